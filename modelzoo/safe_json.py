"""Params JSON that every job path can store and read back: bounded depth, numbers and text.

A request's params pass through here before any schema: JSON deeper than a job needs, integers a
database or JavaScript cannot hold, NaN or infinities, NUL characters (PostgreSQL refuses them) and
lone surrogates (not encodable as UTF-8) are refused with InvalidParamsError naming where they are.
"""

from __future__ import annotations

import json
import math

from modelzoo.errors import InvalidParamsError

MAX_DEPTH = 8  # the params schemas need 2
MAX_INT = 2**53  # the largest integer JSON readers (JavaScript, PostgreSQL's jsonb) keep exact


def loads_params(text: str | bytes) -> object:
    """Parse params JSON text and check it with `check_value`."""
    try:
        value = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except RecursionError:
        raise InvalidParamsError(f"params: nested more than {MAX_DEPTH} levels deep") from None
    except json.JSONDecodeError as err:
        raise InvalidParamsError(
            f"params: not valid JSON ({err.msg} at line {err.lineno} column {err.colno})"
        ) from None
    except ValueError:  # Python refuses integers of more than 4300 digits
        raise InvalidParamsError(
            f"params: an integer has thousands of digits; integers must be within ±{MAX_INT}"
        ) from None
    check_value(value)
    return value


def check_value(value: object) -> None:
    """Walk a parsed value without recursion; refuse what a job's params can never hold."""
    stack = [(value, "params", 0)]
    while stack:
        item, where, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise InvalidParamsError(f"params: nested more than {MAX_DEPTH} levels deep")
        if isinstance(item, str):
            check_text(item, where)
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, int):
            if abs(item) > MAX_INT:
                raise InvalidParamsError(f"{where}: integers must be within ±{MAX_INT}")
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise InvalidParamsError(f"{where}: must be a finite number")
        elif isinstance(item, dict):
            for key, child in item.items():
                check_text(str(key), f"{where}: a key")
                stack.append((child, f"{where}.{_shown(str(key))}", depth + 1))
        elif isinstance(item, list | tuple):
            stack.extend((child, f"{where}[{i}]", depth + 1) for i, child in enumerate(item))


def check_text(text: str, where: str) -> None:
    """Refuse NUL and lone surrogates in a string that will be stored (a name, a field)."""
    if "\x00" in text:
        raise InvalidParamsError(f"{where}: contains a NUL character (\\u0000)")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        code = ord(text[err.start])
        raise InvalidParamsError(
            f"{where}: contains a lone surrogate (\\u{code:04x}); text must be valid Unicode"
        ) from None


def _shown(key: str) -> str:
    """A key as it can be printed in a message: JSON escapes for anything unprintable."""
    return json.dumps(key)[1:-1][:40]


def _refuse_constant(name: str):
    raise InvalidParamsError(f"params: {name} is not a number JSON allows; give a finite number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise InvalidParamsError(f"params: {text[:30]} is out of range for a number")
    return value
