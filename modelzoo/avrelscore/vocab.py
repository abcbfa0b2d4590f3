"""The 41-character vocabulary of AV-RelScore (ms-dot-k/AVSR@2a287f5 `src/data/char_list.py`).

The order is fixed by the released checkpoints: the CTC head, the decoder and the character LM all
index it, so a change here silently scrambles every transcript.
"""

CHARS = (
    ("<blank>", "<unk>", "'")
    + tuple("0123456789")
    + ("<space>",)
    + tuple("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    + ("<eos>",)
)
BLANK = 0
UNK = 1
SPACE = CHARS.index("<space>")
EOS = len(CHARS) - 1  # also the start symbol, as in ESPnet
SOS = EOS
IGNORE = -1  # padding value of target batches

_INDEX = {c: i for i, c in enumerate(CHARS) if len(c) == 1}


def encode(text: str) -> list[int]:
    """Token ids of `text`: upper-cased, spaces as <space>, anything else unknown as <unk>."""
    return [SPACE if c == " " else _INDEX.get(c, UNK) for c in " ".join(text.upper().split())]


def decode(ids) -> str:
    """Text of token ids; blank and <eos> are dropped, <unk> becomes '?'."""
    out = []
    for i in ids:
        i = int(i)
        if i in (BLANK, EOS):
            continue
        out.append(" " if i == SPACE else "?" if i == UNK else CHARS[i])
    return "".join(out)
