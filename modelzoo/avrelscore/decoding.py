"""Decoding for AV-RelScore: greedy CTC and batched joint CTC/attention beam search.

The beam search scores hypotheses as ESPnet's `BatchBeamSearch` does in ms-dot-k/AVSR@2a287f5
`test.py` (decoder weight 1 - ctc_weight, CTC prefix scores of Watanabe et al. 2017, optional LM,
a per-token length bonus; paper settings beam 40, CTC 0.1, LM 0.5), but keeps every utterance's
beam in one tensor: all B x beam hypotheses advance together, the decoder runs one position at a
time on cached keys and values (`init_state`, `decoder_step`), and the CTC prefix scores of all
extensions are computed at once. At the paper's beam 40 it returns ESPnet's best hypothesis with
the same score (checked against the authors' search on crafted encoder outputs). Deliberate
differences: after as many characters as encoder frames the only choice is <eos>, and that <eos>
is scored, where ESPnet appends an unscored one; and CTC scores every character, where ESPnet
scores only the decoder's best 1.5 x beam (all 41 at beam 40, but a beam under 28 prunes there).
"""

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from modelzoo import cpu_linear
from modelzoo.avrelscore import vocab
from modelzoo.avrelscore.model import (
    AVRelScore,
    DecoderLayer,
    Encoded,
    MultiHeadAttention,
    TransformerDecoder,
    length_mask,
    sinusoids,
)

# (N, L) prefixes, <sos> first -> (N, V) log-probabilities of the next character
CharLM = Callable[[torch.Tensor], torch.Tensor]

END_WINDOW, END_MARGIN = 3, -10.0  # ESPnet's end_detect: M=3 steps, D_end=log(e^-10)
LOG_ZERO = -1e4  # log-probability floor of the CTC scorer
INITIAL_CACHE_LENGTH = 128  # decoder positions first reserved per hypothesis (DecoderState)


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


@dataclass(frozen=True)
class Dense:
    """activation(x @ weight.T + bias) on the N hypotheses of a search. For a model optimised for
    inference (`inference.optimize_for_inference`: its dense layers are `cpu_linear.Linear`) it
    runs through `cpu_linear`, with the weight packed for N rows where the backend packs; else
    through `F.linear`, as the model's own layers do."""

    weight: torch.Tensor
    bias: torch.Tensor | None
    activation: str = "none"
    fast: bool = False
    packed: cpu_linear.Packed | None = None

    @classmethod
    def of(cls, layer: nn.Linear, rows: int, activation="none", weight=None, bias=None):
        """`layer`'s product for `rows` input rows, or the product of `weight` and `bias` in its
        stead, run as `layer` runs."""
        weight = layer.weight if weight is None else weight
        bias = layer.bias if bias is None else bias
        if not isinstance(layer, cpu_linear.Linear):
            return cls(weight, bias, activation)
        return cls(weight, bias, activation, True, cpu_linear.pack(weight, rows))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.fast:
            return cpu_linear.linear(x, self.weight, self.bias, self.activation, self.packed)
        return cpu_linear.ACTIVATIONS[self.activation](F.linear(x, self.weight, self.bias))


def fused_qkv(attention: MultiHeadAttention, rows: int) -> Dense:
    """The q, k, v projections of `attention` as one product (3D outputs), q scaled by
    1/sqrt(Dh): one matrix product per decoding step instead of three and a division."""
    scale = attention.head_dim**-0.5
    q, k, v = attention.linear_q, attention.linear_k, attention.linear_v
    weight = torch.cat([q.weight * scale, k.weight, v.weight])  # (3D, D)
    bias = torch.cat([q.bias * scale, k.bias, v.bias])  # (3D,)
    return Dense.of(q, rows, weight=weight, bias=bias)


def layer_products(layer: DecoderLayer, rows: int) -> dict[str, Dense]:
    """The products that `layer_step` computes, for `rows` hypotheses."""
    return {
        "qkv": fused_qkv(layer.self_attn, rows),
        "self_out": Dense.of(layer.self_attn.linear_out, rows),
        "src_q": Dense.of(layer.src_attn.linear_q, rows),
        "src_out": Dense.of(layer.src_attn.linear_out, rows),
        "ff_in": Dense.of(layer.feed_forward.w_1, rows, activation="relu"),
        "ff_out": Dense.of(layer.feed_forward.w_2, rows),
    }


def attend_cached(q, cache):
    """Attention of pre-scaled queries (N, H, Dh) to a (2, N, H, L, Dh) cache of keys and values,
    read in place: each hypothesis's keys of a head are one (L, Dh) block, so both products are
    batched matrix products over strided views. Returns (N, H * Dh)."""
    scores = torch.matmul(q[:, :, None], cache[0].transpose(-2, -1))  # (N, H, 1, L)
    return torch.matmul(scores.softmax(-1), cache[1]).flatten(1)  # (N, H * Dh)


def attend_memory(q, k, v, bias):
    """Attention of the N = B * beams new queries (N, H, Dh) to the encoder keys/values of their
    utterance, (B, H, T, Dh), with `bias` (B, 1, 1, T) -inf at padding: the beams of an
    utterance go through one matrix product. Returns (N, H * Dh)."""
    b, h, _, dh = k.shape
    q = q.view(b, -1, h, dh).transpose(1, 2)  # (B, H, beams, Dh)
    scores = torch.matmul(q, k.transpose(-2, -1)) / math.sqrt(dh) + bias
    out = scores.softmax(-1) @ v  # (B, H, beams, Dh)
    return out.transpose(1, 2).reshape(-1, h * dh)


@dataclass
class DecoderState:
    """Incremental decoding cache: self-attention keys/values of every fed position and what every
    step reuses (source keys/values, the layers' products, positions). Each hypothesis keeps its
    own row of the cache, so that `select` copies only the rows whose hypothesis now continues
    another one's prefix. The buffer starts at 128 positions (63 MB at beam 40, room for about
    8 s of speech, so a short clip never copies it) and doubles when a hypothesis outgrows it:
    the bound of one character per encoder frame would reserve about 0.3 GB for a 24 s window at
    beam 40, where real transcripts need a fraction of it."""

    cache: torch.Tensor  # (layers, 2, N, H, capacity, Dh)
    memory_kv: list  # per layer (keys, values) of the encoder output, (B, H, T, Dh) each
    bias: torch.Tensor  # (B, 1, 1, T) 0 where the encoder output is valid, -inf at padding
    products: list[dict[str, Dense]]  # per layer, `layer_products` for the N hypotheses
    output: Dense  # the output projection, likewise
    positions: torch.Tensor  # (max_len, D) the decoder's sinusoids
    length: int = 0  # tokens fed so far (the start symbol included)

    def reserve(self, length: int) -> None:
        """Room for `length` positions, keeping those fed so far."""
        capacity = self.cache.size(4)
        if length <= capacity:
            return
        shape = list(self.cache.shape)
        shape[4] = max(length, 2 * capacity)
        grown = self.cache.new_empty(shape)
        grown[:, :, :, :, : self.length] = self.cache[:, :, :, :, : self.length]
        self.cache = grown

    def select(self, index: torch.Tensor) -> "DecoderState":
        """Hypothesis n continues hypothesis index[n]'s prefix (in place). Only the rows with
        index[n] != n are copied; the beam search keeps each surviving prefix's best extension
        in its own row, so most rows stay where they are."""
        moved = (index != torch.arange(index.size(0), device=index.device)).nonzero()[:, 0]
        sources = index[moved]
        fed = self.cache[:, :, :, :, : self.length]
        if set(moved.tolist()) & set(sources.tolist()):  # a row is read after being written
            fed.index_copy_(2, moved, fed.index_select(2, sources))
            return self
        # Row by row: a strided block copy each, several times faster than index_copy_ here.
        for row, source in zip(moved.tolist(), sources.tolist(), strict=True):
            fed[:, :, row].copy_(fed[:, :, source])
        return self


def init_state(
    decoder: TransformerDecoder, memory, memory_mask, max_len: int, beams: int = 1
) -> DecoderState:
    """Cache for `beams` hypotheses per utterance (laid out b*beams+k) of up to `max_len` fed
    tokens, holding the source keys/values."""
    kv = [layer.src_attn.keys_values(memory) for layer in decoder.layers]
    heads = decoder.layers[0].self_attn.heads
    capacity = min(max_len, INITIAL_CACHE_LENGTH)
    n = memory.size(0) * beams
    shape = (len(decoder.layers), 2, n, heads, capacity, decoder.d_model // heads)
    bias = memory.new_zeros(memory_mask.shape).masked_fill(~memory_mask, -math.inf)
    positions = sinusoids(torch.arange(max_len, device=memory.device), decoder.d_model)
    return DecoderState(
        memory.new_empty(shape),
        kv,
        bias[:, None, None, :],
        [layer_products(layer, n) for layer in decoder.layers],
        Dense.of(decoder.output, n),
        positions.to(memory.dtype),
    )


def layer_step(layer: DecoderLayer, x, cache, products: dict[str, Dense], memory_kv, bias):
    """`DecoderLayer.forward` for one new position x (N, D); `cache` (2, N, H, L+1, Dh) gets its
    keys/values at L."""
    n, heads = x.size(0), layer.self_attn.heads
    qkv = products["qkv"](layer.norm1(x)).view(n, 3, heads, -1)
    cache[:, :, :, -1] = qkv[:, 1:].transpose(0, 1)  # (2, N, H, Dh)
    x = x + products["self_out"](attend_cached(qkv[:, 0], cache))
    q = products["src_q"](layer.norm2(x)).view(n, heads, -1)
    x = x + products["src_out"](attend_memory(q, *memory_kv, bias))
    return x + products["ff_out"](products["ff_in"](layer.norm3(x)))


def decoder_step(decoder: TransformerDecoder, last, state: DecoderState):
    """Log-probabilities (N, V) of the next token after `last` (N,); advances `state`."""
    n = state.length
    state.reserve(n + 1)
    x = decoder.dropout(decoder.embed(last) * math.sqrt(decoder.d_model) + state.positions[n])
    for i, layer in enumerate(decoder.layers):
        cache = state.cache[i, :, :, :, : n + 1]
        x = layer_step(layer, x, cache, state.products[i], state.memory_kv[i], state.bias)
    state.length += 1
    return state.output(decoder.norm(x)).log_softmax(-1), state


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
    state = init_state(model.decoder, encoded.hidden, mask, steps, k)
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
        att, state = decoder_step(model.decoder, tokens[:, -1], state)  # (N, V)
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
