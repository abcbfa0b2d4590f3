"""The GRID corpus grammar (Cooke et al. 2006): six-word commands such as "bin blue at f two now".

GRID's letters leave out W (its name has three syllables). Transcripts are written in capitals as
LRS transcripts are, inside AV-RelScore's 41-character vocabulary; the spoken form differs only
where espeak-ng would read a lone letter as a word ("a" as the article).
"""

from __future__ import annotations

import numpy as np

COMMANDS = ("bin", "lay", "place", "set")
COLOURS = ("blue", "green", "red", "white")
PREPOSITIONS = ("at", "by", "in", "with")
LETTERS = tuple("abcdefghijklmnopqrstuvxyz")
DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
ADVERBS = ("again", "now", "please", "soon")
SLOTS = (COMMANDS, COLOURS, PREPOSITIONS, LETTERS, DIGITS, ADVERBS)
WORDS = tuple(sorted({word for slot in SLOTS for word in slot}))

SPOKEN_LETTERS = {"a": "eigh"}  # espeak-ng says "a" as /@/; "eigh" gives the letter name /eI/


def random_sentence(rng: np.random.Generator) -> tuple[str, ...]:
    """Six words, one from each slot, uniformly."""
    return tuple(str(slot[int(rng.integers(len(slot)))]) for slot in SLOTS)


def transcript(words: tuple[str, ...]) -> str:
    """ "BIN BLUE AT F TWO NOW": upper case, single spaces."""
    return " ".join(words).upper()


def spoken_text(words: tuple[str, ...]) -> str:
    """The text given to espeak-ng, with letters spelled so that it says their names."""
    return " ".join(SPOKEN_LETTERS.get(word, word) for word in words)


def utterance_id(words: tuple[str, ...]) -> str:
    """GRID's file name: first letters of each word, the digit as a number ("bbaf2n")."""
    command, colour, preposition, letter, digit, adverb = words
    return f"{command[0]}{colour[0]}{preposition[0]}{letter}{DIGITS.index(digit)}{adverb[0]}"
