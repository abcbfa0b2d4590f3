"""Rater qualification before the instructions: a display check and an audio check.

After microsoft/P.910's viewing-condition checks (screen size and measured refresh rate;
annotation-research.md §2.5) and P.808's hearing test (digits to type back, §2.2): the page
measures the screen and the refresh rate of the browser's animation frames, and plays a number
spoken by espeak-ng that the rater types. A study lists the checks in `Study.qualification`:

    {"display": {"min_width": 1280, "min_height": 720, "min_refresh_hz": 30}, "audio": {}}

Missing thresholds take the defaults below. A rater who fails is screened out: the session
ends, its block goes to others, and the page gives the platform's screen-out code.
"""

import secrets

DISPLAY_DEFAULTS = {"min_width": 1280, "min_height": 720, "min_refresh_hz": 30}
NUMBER_RANGE = (10, 99)


def checks(study) -> dict:
    """The study's checks with their thresholds: {"display": {...}, "audio": {...}}."""
    config = study.qualification or {}
    result = {}
    if "display" in config:
        result["display"] = {**DISPLAY_DEFAULTS, **(config["display"] or {})}
    if "audio" in config:
        result["audio"] = dict(config["audio"] or {})
    return result


def spoken_number(session) -> int:
    """The session's number for the audio check, drawn once."""
    record = session.qualification or {}
    if "number" not in record:
        low, high = NUMBER_RANGE
        record["number"] = low + secrets.randbelow(high - low + 1)
        session.qualification = record
        session.save(update_fields=["qualification"])
    return record["number"]


def _number(text) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def failures(study, session, answers: dict) -> list[str]:
    """Why the rater fails the study's checks (empty: passed). `answers` holds the measured
    `screen_width`, `screen_height`, `refresh_hz` and the typed `heard_number`."""
    found = []
    config = checks(study)
    display = config.get("display")
    if display is not None:
        width, height = _number(answers.get("screen_width")), _number(answers.get("screen_height"))
        refresh = _number(answers.get("refresh_hz"))
        if width is None or height is None or refresh is None:
            found.append("the display could not be measured")
        else:
            # A screen turned sideways counts: compare the longer and the shorter sides.
            long_side, short_side = max(width, height), min(width, height)
            if long_side < display["min_width"] or short_side < display["min_height"]:
                found.append(
                    f"the screen is {width:.0f} x {height:.0f}; this study needs at least "
                    f"{display['min_width']} x {display['min_height']}"
                )
            if refresh < display["min_refresh_hz"]:
                found.append(
                    f"the screen refreshes {refresh:.0f} times a second; this study needs "
                    f"{display['min_refresh_hz']}"
                )
    if "audio" in config:
        typed = "".join(ch for ch in str(answers.get("heard_number", "")) if ch.isdigit())
        if typed != str(spoken_number(session)):
            found.append("the number typed is not the number spoken in the audio check")
    return found
