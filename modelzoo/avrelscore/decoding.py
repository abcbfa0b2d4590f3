"""Decoding for AV-RelScore: greedy CTC and batched joint CTC/attention beam search.

The beam search scores hypotheses as ESPnet's `BatchBeamSearch` does in ms-dot-k/AVSR@2a287f5
`test.py` (decoder weight 1 - ctc_weight, CTC prefix scores of Watanabe et al. 2017, optional LM,
a per-token length bonus; paper settings beam 40, CTC 0.1, LM 0.5), but keeps every utterance's
beam in one tensor: all B x beam hypotheses advance together, the decoder reuses cached keys and
values, and the CTC prefix scores of all extensions are computed at once. Two deliberate
differences: after as many characters as encoder frames the only choice is <eos>, and that <eos>
is scored, where ESPnet appends an unscored one.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from modelzoo.avrelscore import vocab
from modelzoo.avrelscore.model import AVRelScore, Encoded, length_mask

# (N, L) prefixes, <sos> first -> (N, V) log-probabilities of the next character
CharLM = Callable[[torch.Tensor], torch.Tensor]

END_WINDOW, END_MARGIN = 3, -10.0  # ESPnet's end_detect: M=3 steps, D_end=log(e^-10)


@dataclass
class Hypothesis:
    tokens: list[int]  # without <sos> and <eos>
    score: float

    @property
    def text(self) -> str:
        return vocab.decode(self.tokens)


def greedy_ctc(log_probs: torch.Tensor, lengths: torch.Tensor) -> list[list[int]]:
    """Best path per utterance of (B, T, V) CTC outputs: repeats merged, then blanks dropped."""
    best = log_probs.argmax(-1)  # (B, T)
    repeat = torch.zeros_like(best, dtype=torch.bool)
    repeat[:, 1:] = best[:, 1:] == best[:, :-1]
    keep = ~repeat & (best != vocab.BLANK) & length_mask(lengths, best.size(1))
    return [row[k].tolist() for row, k in zip(best, keep, strict=True)]


class CTCPrefixScorer:
    """CTC prefix log-probabilities of every one-token extension of N running hypotheses.

    Frames past an utterance's end are made certain blanks, so the blank-ending path carries the
    end state to the last frame and one tensor serves utterances of different lengths.
    """

    def __init__(self, log_probs: torch.Tensor, lengths: torch.Tensor, beams: int):
        pad = ~length_mask(lengths, log_probs.size(1))[..., None]  # (B, T, 1)
        x = log_probs.float().masked_fill(pad, -math.inf)
        x[..., vocab.BLANK] = x[..., vocab.BLANK].masked_fill(pad[..., 0], 0.0)
        self.x = x.repeat_interleave(beams, 0).transpose(0, 1).contiguous()  # (T, N, V)
        t, n, _ = self.x.shape
        # the empty prefix: no path ends in a character, the blank path is all blanks
        self.r = torch.full((t, 2, n), -math.inf, device=x.device)  # [:, 0] char-, [:, 1] blank-
        self.r[:, 1] = self.x[:, :, vocab.BLANK].cumsum(0)
        self.prefix = torch.zeros(n, device=x.device)  # log prefix probability of each hypothesis
        self.last = torch.full((n,), -1, dtype=torch.long, device=x.device)
        self.length = 0

    def score(self) -> torch.Tensor:
        """(N, V) log prefix-probability ratios of each extension; keeps states for `select`."""
        x, r_prev = self.x, self.r
        t, n, v = x.shape
        phi = torch.logaddexp(r_prev[:, 0], r_prev[:, 1])[..., None].repeat(1, 1, v)  # (T, N, V)
        rows = torch.arange(n, device=x.device)
        repeats = self.last >= 0
        # a repeated character needs a blank in between
        phi[:, rows[repeats], self.last[repeats]] = r_prev[:, 1, repeats]
        r = torch.full((t, 2, n, v), -math.inf, device=x.device)
        if self.length == 0:
            r[0, 0] = x[0]
        start = max(self.length, 1)
        for i in range(start, t):
            r[i, 0] = torch.logaddexp(r[i - 1, 0], phi[i - 1]) + x[i]
            r[i, 1] = torch.logaddexp(r[i - 1, 0], r[i - 1, 1]) + x[i, :, vocab.BLANK, None]
        steps = torch.cat([r[start - 1, 0][None], phi[start - 1 : t - 1] + x[start:]], dim=0)
        prefix = steps.logsumexp(0)  # (N, V)
        prefix[:, vocab.EOS] = torch.logaddexp(r_prev[-1, 0], r_prev[-1, 1])
        prefix[:, vocab.BLANK] = -math.inf
        self._next = r, prefix
        ratio = prefix - self.prefix[:, None]
        return ratio.nan_to_num(nan=-math.inf)  # -inf - -inf for already impossible prefixes

    def select(self, parents: torch.Tensor, tokens: torch.Tensor) -> None:
        r, prefix = self._next
        self.r = r[:, :, parents, tokens]  # (T, 2, N)
        self.prefix = prefix[parents, tokens]
        self.last = tokens
        self.length += 1


def _should_stop(ended: list[tuple[int, float]], step: int) -> bool:
    """ESPnet's end detection: hypotheses that ended at each of the recent steps are all far
    worse than the best ended one."""
    if not ended:
        return False
    best = max(score for _, score in ended)
    count = 0
    for m in range(END_WINDOW):
        same = [score for s, score in ended if s == step - 2 - m]
        count += bool(same) and max(same) - best < END_MARGIN
    return count == END_WINDOW


@torch.no_grad()
def beam_search(
    model: AVRelScore,
    encoded: Encoded,
    *,
    beam: int = 40,
    ctc_weight: float = 0.1,
    lm: CharLM | None = None,
    lm_weight: float = 0.5,
    length_bonus: float = 0.0,
) -> list[Hypothesis]:
    """Best hypothesis per utterance of joint CTC/attention (+ LM) beam search."""
    mask = encoded.mask
    b, k = mask.size(0), beam
    n, v = b * k, model.config.vocab_size
    max_lens = mask.sum(1)  # at most one character per encoder frame, as maxlenratio=0
    steps = int(max_lens.max()) + 1  # the last step may only end hypotheses
    state = model.decoder.init_state(encoded.hidden, mask, steps, k)
    ctc = None
    if ctc_weight > 0:
        ctc = CTCPrefixScorer(model.ctc_log_probs(encoded), max_lens, k)
    scores = torch.full((b, k), -math.inf, device=mask.device)
    scores[:, 0] = 0.0  # one live hypothesis (<sos>) per utterance to start with
    tokens = torch.full((n, 1), vocab.SOS, dtype=torch.long, device=mask.device)
    offsets = torch.arange(b, device=mask.device)[:, None] * k
    ended: list[list[tuple[int, float]]] = [[] for _ in range(b)]
    best: list[Hypothesis | None] = [None] * b
    done = torch.zeros(b, dtype=torch.bool, device=mask.device)
    for step in range(steps):
        att, state = model.decoder.step(tokens[:, -1], state)  # (N, V)
        cand = (1 - ctc_weight) * att + length_bonus
        if ctc is not None:
            cand = cand + ctc_weight * ctc.score()
        if lm is not None:
            cand = cand + lm_weight * lm(tokens)
        cand = (scores.view(n, 1) + cand).view(b, k, v)
        cand[step == max_lens, :, : vocab.EOS] = -math.inf  # last step: <eos> only
        cand[done] = -math.inf
        scores, index = cand.view(b, k * v).topk(k, dim=1)  # (B, K)
        parents = (index // v + offsets).view(n)
        chosen = (index % v).view(n)
        tokens = torch.cat([tokens[parents], chosen[:, None]], dim=1)
        state = state.select(parents)
        if ctc is not None:
            ctc.select(parents, chosen)
        finished = (chosen.view(b, k) == vocab.EOS) & scores.isfinite()
        for i, j in finished.nonzero().tolist():
            score = scores[i, j].item()
            ended[i].append((step, score))
            if best[i] is None or score > best[i].score:
                best[i] = Hypothesis(tokens[i * k + j, 1:-1].tolist(), score)
        scores = scores.masked_fill(chosen.view(b, k) == vocab.EOS, -math.inf)
        stop = [_should_stop(e, step) for e in ended]
        done |= (step >= max_lens) | ~scores.isfinite().any(1) | torch.tensor(stop)
        if done.all():
            break
    return [h if h is not None else Hypothesis([], -math.inf) for h in best]
