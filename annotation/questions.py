"""Ready-made questions: the P.910 talking-avatar templates, problem tokens, lip reading, A/B.

After microsoft/P.910's avatar mode (docs/prep_avatar.md, CSCW 2025; annotation-research.md §2.5):
Template A rates eight statements about the avatar alone, Template B three statements with the
avatar beside the driving (real) video, both on a 5-point agree scale, and a problem-token list
names what looks wrong. Wording is ours. Each question carries its own instructions (`help`) and
whether the clip plays with sound (`sound`): off for lip reading, on for everything else.
"""

AGREE = ["Strongly disagree", "Disagree", "Neither agree nor disagree", "Agree", "Strongly agree"]
ACR = ["Bad", "Poor", "Fair", "Good", "Excellent"]

SCALE_HELP = (
    "Pick the answer that fits best, from {low} to {high}. Example: if it mostly holds but you "
    "notice small flaws, '{example}' fits."
)


def _statement(key: str, prompt: str, section: str) -> dict:
    return {
        "key": key,
        "prompt": prompt,
        "anchors": AGREE,
        "section": section,
        "help": SCALE_HELP.format(low=AGREE[0], high=AGREE[-1], example=AGREE[3]),
    }


TEMPLATE_A = [
    ("trust", "I would trust this person."),
    ("realistic", "This video looks like a real recording."),
    ("comfortable_self", "I would be comfortable with this avatar representing me."),
    ("comfortable_talk", "I would be comfortable talking with this person."),
    ("appropriate", "The person behaves appropriately."),
    ("not_creepy", "This person does not look creepy."),
    ("formal", "This person would fit a formal meeting."),
    ("like", "I like this person."),
]
TEMPLATE_B = [
    ("looks_like", "The left video looks like the person in the right video."),
    ("expressions", "The facial expressions on the left match those on the right."),
    ("motion", "The head and body motion on the left matches the right."),
]
PROBLEM_TOKENS = [
    "Lip sync and mouth movement",
    "Eyes and blinking",
    "Facial expressions",
    "Skin and texture",
    "Lighting",
    "Head or body motion",
    "Not lifelike",
    "No problem",
]


def template_a(section: str = "main") -> list[dict]:
    """P.910 avatar Template A: eight statements about the clip on its own."""
    return [_statement(key, prompt, section) for key, prompt in TEMPLATE_A]


def template_b(section: str = "main") -> list[dict]:
    """P.910 avatar Template B: three statements, the clip beside the driving (real) video."""
    return [_statement(key, prompt, section) for key, prompt in TEMPLATE_B]


def lipsync_mos(section: str = "main") -> dict:
    return {
        "key": "lipsync",
        "prompt": "How well do the lip movements match the speech?",
        "anchors": ACR,
        "section": section,
        "help": SCALE_HELP.format(low=ACR[0], high=ACR[-1], example=ACR[3])
        + " Listen with the sound on: this question is about sound and picture together.",
    }


def problem_tokens(section: str = "main") -> dict:
    return {
        "key": "problems",
        "prompt": "Tick everything that looks wrong in the generated video.",
        "kind": "tokens",
        "anchors": PROBLEM_TOKENS,
        "section": section,
        "help": "Tick as many as apply, or 'No problem'. Example: a mouth that opens after the "
        "sound starts is 'Lip sync and mouth movement'.",
    }


def lip_reading(section: str = "main") -> dict:
    return {
        "key": "transcript",
        "prompt": "Type the words the person says.",
        "kind": "text",
        "sound": False,
        "section": section,
        "help": "These clips have no sound: read the speaker's lips. Type the words you see, "
        "in order; leave out what you cannot make out. Example: 'put the red box on the table'.",
    }


def preference(section: str = "main") -> dict:
    return {
        "key": "preference",
        "prompt": "Which video looks more like a real recording?",
        "kind": "preference",
        "anchors": ["Left", "Right"],
        "section": section,
        "help": "Two videos play side by side. Choose the one that looks more real, even if the "
        "difference is small.",
    }


# Instructions shown per question kind, above each question's own help.
KIND_HELP = {
    "scale": "Rate the clip on the scale under each statement.",
    "text": "Type what you understood.",
    "tokens": "Tick the problems you noticed.",
    "preference": "Choose one of the two videos.",
}
