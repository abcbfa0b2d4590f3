"""Decoding for AV-RelScore: greedy CTC and batched joint CTC/attention beam search.

The beam search scores hypotheses as ESPnet's `BatchBeamSearch` does in ms-dot-k/AVSR@2a287f5
`test.py` (decoder weight 1 - ctc_weight, CTC prefix scores of Watanabe et al. 2017, optional LM,
a per-token length bonus; paper settings beam 40, CTC 0.1, LM 0.5), but keeps every utterance's
beam in one tensor: all B x beam hypotheses advance together, the decoder reuses cached keys and
values, and the CTC prefix scores of all extensions are computed at once. At the paper's beam 40
it returns ESPnet's best hypothesis with the same score (checked against the authors' search on
crafted encoder outputs). Deliberate differences: after as many characters as encoder frames the
only choice is <eos>, and that <eos> is scored, where ESPnet appends an unscored one; and CTC
scores every character, where ESPnet scores only the decoder's best 1.5 x beam (all 41 at beam
40, but a beam under 28 prunes there).
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
LOG_ZERO = -1e4  # log-probability floor of the CTC scorer


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

    The prefix probability of an extension needs only the parent's forward variables, so all
    N x V extensions are scored with one reduction over time; the forward recursion itself runs
    only for the N extensions kept (`select`), and in closed form: each recursion is first-order
    linear in probability space, r[i] = x[i] * (r[i-1] + u[i-1]), so that
    r[i] = X[i] * (r[s-1] / X[s-1] + sum_{j=s..i} u[j-1] / X[j-1]) with X the running product
    of x, which is a cumulative sum and a `logcumsumexp` in log space instead of a loop over
    frames.
    """

    def __init__(self, log_probs: torch.Tensor, lengths: torch.Tensor, beams: int):
        pad = ~length_mask(lengths, log_probs.size(1))[..., None]  # (B, T, 1)
        # a finite floor instead of -inf keeps the running sums finite; e^-1e4 is still zero
        x = log_probs.double().clamp(min=LOG_ZERO).masked_fill(pad, LOG_ZERO)
        x[..., vocab.BLANK] = x[..., vocab.BLANK].masked_fill(pad[..., 0], 0.0)
        # per utterance, not per hypothesis: the beams of an utterance share its frames
        self.x = x.transpose(0, 1).contiguous()  # (T, B, V)
        self.cumulative = self.x.cumsum(0)  # (T, B, V) log of X, the running product of x
        self.beams = beams
        t, b, _ = self.x.shape
        n = b * beams
        self.utterance = torch.arange(n, device=x.device) // beams  # (N,) of each hypothesis
        # the empty prefix: no path ends in a character, the blank path is all blanks
        self.r = torch.full((t, 2, n), -math.inf, dtype=x.dtype, device=x.device)  # char, blank
        self.r[:, 1] = self.cumulative[:, self.utterance, vocab.BLANK]
        self.prefix = torch.zeros(n, dtype=x.dtype, device=x.device)  # log prefix probability
        self.last = torch.full((n,), -1, dtype=torch.long, device=x.device)
        self.length = 0

    def score(self) -> torch.Tensor:
        """(N, V) log prefix-probability ratios of each extension; `select` keeps N of them."""
        x, r = self.x, self.r
        t, b, v = x.shape
        n, start = r.size(2), max(self.length, 1)
        # A path of the extended prefix emits the new token first at frame j >= start, after
        # any path of the prefix (phi), but after a blank-ending one only if the token repeats
        # the prefix's last character; that column is redone below.
        total = torch.logaddexp(r[:, 0], r[:, 1])  # (T, N)
        first = total[start - 1 : t - 1].view(-1, b, self.beams, 1) + x[start:, :, None]
        first = first.view(-1, n, v)  # (T - start, N, V)
        if self.length == 0:  # ... or at frame 0 for the first token
            first = torch.cat([x[:1, self.utterance], first], dim=0)
        prefix = first.logsumexp(0) if first.size(0) else torch.full((n, v), -math.inf).to(x)
        repeats = (self.last >= 0).nonzero()[:, 0]
        if repeats.numel() and start < t:
            last = self.last[repeats]
            x_last = x[start:, self.utterance[repeats], last]  # (T - start, R)
            blank_ending = r[start - 1 : t - 1, 1, repeats]
            prefix[repeats, last] = (blank_ending + x_last).logsumexp(0)
        prefix[:, vocab.EOS] = torch.logaddexp(r[-1, 0], r[-1, 1])
        prefix[:, vocab.BLANK] = -math.inf
        self._prefix = prefix
        ratio = prefix - self.prefix[:, None]
        return ratio.nan_to_num(nan=-math.inf).float()  # -inf - -inf: already impossible

    def select(self, parents: torch.Tensor, tokens: torch.Tensor) -> None:
        """Advance to the extensions `tokens` (N,) of hypotheses `parents` (N,) of the same
        utterance."""
        t, n = self.x.size(0), parents.size(0)
        start = max(self.length, 1)
        r_prev = self.r[:, :, parents]  # (T, 2, N)
        # phi of the chosen token: blank-ending paths only when it repeats the last character
        repeat = tokens == self.last[parents]
        phi = torch.where(repeat, r_prev[:, 1], torch.logaddexp(r_prev[:, 0], r_prev[:, 1]))
        utterance = self.utterance
        log_x = self.cumulative[:, utterance, tokens]  # (T, N) log X: running sums of x[:, token]
        log_b = self.cumulative[:, utterance, vocab.BLANK]  # (T, N) the same for blanks
        r = torch.full((t, 2, n), -math.inf, dtype=self.x.dtype, device=self.x.device)
        if self.length == 0:  # the first token may be emitted at frame 0
            r[0, 0] = self.x[0, utterance, tokens]
        if start < t:
            # char-ending: r0[i] = x[i] * (r0[i-1] + phi[i-1]), from r0[start-1]
            steps = phi[start - 1 : t - 1] - log_x[start - 1 : t - 1]
            init = (r[start - 1, 0] - log_x[start - 1])[None]
            r[start:, 0] = log_x[start:] + torch.logaddexp(init, steps.logcumsumexp(0))
            # blank-ending: r1[i] = b[i] * (r0[i-1] + r1[i-1]), from r1[start-1] = -inf (log 0)
            steps = r[start - 1 : t - 1, 0] - log_b[start - 1 : t - 1]
            r[start:, 1] = log_b[start:] + steps.logcumsumexp(0)
        self.r = r
        self.prefix = self._prefix[parents, tokens]
        self.last = tokens
        self.length += 1


def stable_rows(parents: torch.Tensor) -> torch.Tensor:
    """The beam row (B, K) of each of the K extensions chosen per utterance, best first, given
    the rows of their prefixes `parents` (B, K): each prefix's best extension stays in the
    prefix's own row and the others take, in order, the rows of prefixes that were not extended.
    The order of hypotheses in a beam changes nothing in the search, and this way the decoder
    cache copies only the rows that now hold another prefix (`DecoderState.select`)."""
    b, k = parents.shape
    rows = torch.arange(k, device=parents.device)
    same = parents[:, :, None] == parents[:, None, :]  # (B, K, K): [i, j] same prefix
    first = ~(same & (rows[None, :] < rows[:, None])).any(-1)  # no better sibling before it
    extended = torch.zeros_like(same[:, 0]).scatter_(1, parents, True)  # (B, K) per row
    free = torch.where(extended, rows + k, rows).sort(1).values  # unextended rows first
    rank = ((~first).cumsum(1) - 1).clamp(min=0)  # order among the other extensions
    return torch.where(first, parents, free.gather(1, rank))


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


@torch.inference_mode()
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
        order = stable_rows(index // v).argsort(1)  # the extension each row takes
        scores, index = scores.gather(1, order), index.gather(1, order)
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
