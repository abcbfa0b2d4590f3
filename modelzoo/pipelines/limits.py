"""The ranges of the pipelines' settings, in a module without torch so that a web page can show
them and a form can check them before any model is near."""

DECODERS = ("greedy", "beam")
BEAM_SIZES = (1, 64)  # hypotheses a beam search may keep (the paper uses 40)
CTC_WEIGHTS = (0.0, 1.0)  # the CTC share of a beam hypothesis's score
MAX_BATCH_SIZE = 256  # face frames per generator call: more only costs memory
