import pytest
import torch
import torch.nn.functional as F

from modelzoo.avrelscore import decoding, vocab
from modelzoo.avrelscore.decoding import (
    CTCPrefixScorer,
    beam_search,
    decoder_step,
    greedy_ctc,
    init_state,
    stable_rows,
)
from modelzoo.avrelscore.model import Encoded

A, B = vocab.CHARS.index("A"), vocab.CHARS.index("B")


def _one_hot_log_probs(path):
    """(1, T, V) log-probabilities whose best path is `path`."""
    x = torch.full((1, len(path), len(vocab.CHARS)), -10.0)
    x[0, torch.arange(len(path)), torch.tensor(path)] = 0.0
    return x.log_softmax(-1)


def test_greedy_ctc_merges_repeats_then_drops_blanks():
    path = [A, A, vocab.BLANK, A, B, B, vocab.BLANK, vocab.BLANK]
    assert greedy_ctc(_one_hot_log_probs(path), torch.tensor([8])) == [[A, A, B]]


def test_greedy_ctc_ignores_frames_past_the_length():
    path = [A, vocab.BLANK, B, B]
    assert greedy_ctc(_one_hot_log_probs(path), torch.tensor([2])) == [[A]]


@pytest.fixture
def encoded(tiny_model, inputs):
    with torch.no_grad():
        return tiny_model.encode(*inputs)


def test_ctc_prefix_scores_along_a_sequence_add_up_to_its_ctc_probability(tiny_model, encoded):
    log_probs, lengths = tiny_model.ctc_log_probs(encoded), encoded.mask.sum(1)
    for b, target in enumerate([[A, B, B, A], [B, A]]):
        scorer = CTCPrefixScorer(log_probs[b : b + 1], lengths[b : b + 1], beams=1)
        total = 0.0
        for token in [*target, vocab.EOS]:
            total += scorer.score()[0, token].item()
            scorer.select(torch.tensor([0]), torch.tensor([token]))
        frames = log_probs[b : b + 1, : lengths[b]].transpose(0, 1)
        n = torch.tensor([len(target)])
        expected = -F.ctc_loss(
            frames, torch.tensor([target]), lengths[b : b + 1], n, reduction="sum"
        )
        assert total == pytest.approx(expected.item(), rel=1e-4)


def test_decoder_steps_with_cache_match_the_teacher_forced_decoder(tiny_model, encoded):
    tokens = torch.tensor([[vocab.SOS, A, B, A], [vocab.SOS, B, B, B]])
    with torch.no_grad():
        full = tiny_model.decoder(tokens, encoded.hidden, encoded.mask).log_softmax(-1)
        state = init_state(tiny_model.decoder, encoded.hidden, encoded.mask, 4)
        for i in range(tokens.size(1)):
            step, state = decoder_step(tiny_model.decoder, tokens[:, i], state)
            assert torch.allclose(step, full[:, i], atol=1e-5)


def test_reordered_cache_continues_the_selected_prefixes(tiny_model, encoded):
    """After `select`, each row continues the prefix of the hypothesis it was taken from."""
    prefixes = torch.tensor([[vocab.SOS, A, B], [vocab.SOS, B, B]])
    following = torch.tensor([[A, B], [B, A]])
    with torch.no_grad():
        state = init_state(tiny_model.decoder, encoded.hidden[:1], encoded.mask[:1], 5, beams=2)
        for i in range(prefixes.size(1)):
            _, state = decoder_step(tiny_model.decoder, prefixes[:, i], state)
        state = state.select(torch.tensor([1, 0]))  # swap the two hypotheses
        for i in range(following.size(1)):
            step, state = decoder_step(tiny_model.decoder, following[:, i], state)
        swapped = torch.cat([prefixes.flip(0), following], dim=1)
        memory = encoded.hidden[:1].expand(2, -1, -1)
        full = tiny_model.decoder(swapped, memory, encoded.mask[:1].expand(2, -1))
    assert torch.allclose(step, full[:, -1].log_softmax(-1), atol=1e-5)


def test_a_cache_that_grows_step_by_step_gives_the_same_search(tiny_model, encoded, monkeypatch):
    expected = beam_search(tiny_model, encoded, beam=3, ctc_weight=0.3)
    assert max(len(h.tokens) for h in expected) >= 2  # so that the cache below grows
    monkeypatch.setattr(decoding, "INITIAL_CACHE_LENGTH", 1)
    grown = beam_search(tiny_model, encoded, beam=3, ctc_weight=0.3)
    assert [h.tokens for h in grown] == [h.tokens for h in expected]
    assert [h.score for h in grown] == pytest.approx([h.score for h in expected], abs=1e-5)


def _greedy_attention(model, encoded, b):
    """Reference greedy decoding with the full (uncached) decoder, one utterance."""
    tokens = [vocab.SOS]
    for _ in range(int(encoded.mask[b].sum())):
        with torch.no_grad():
            logits = model.decoder(
                torch.tensor([tokens]), encoded.hidden[b : b + 1], encoded.mask[b : b + 1]
            )
        best = int(logits[0, -1].argmax())
        if best == vocab.EOS:
            break
        tokens.append(best)
    return tokens[1:]


def test_beam_one_without_ctc_equals_greedy_attention_decoding(tiny_model, encoded):
    hyps = beam_search(tiny_model, encoded, beam=1, ctc_weight=0.0)
    assert [h.tokens for h in hyps] == [_greedy_attention(tiny_model, encoded, b) for b in (0, 1)]


def test_beam_search_returns_strings_over_the_vocabulary(tiny_model, encoded):
    hyps = beam_search(tiny_model, encoded, beam=4, ctc_weight=0.3)
    for hyp, frames in zip(hyps, encoded.mask.sum(1).tolist(), strict=True):
        assert len(hyp.tokens) <= frames
        assert all(0 < t < vocab.EOS for t in hyp.tokens)  # no blank, no <eos> inside
        assert set(hyp.text) <= set("'0123456789 ABCDEFGHIJKLMNOPQRSTUVWXYZ?")
        assert hyp.score > -float("inf")


def test_batched_beam_search_equals_one_utterance_at_a_time(tiny_model, encoded):
    batched = beam_search(tiny_model, encoded, beam=3, ctc_weight=0.5)
    for b, hyp in enumerate(batched):
        n = int(encoded.mask[b].sum())
        alone = Encoded(encoded.hidden[b : b + 1, :n], encoded.mask[b : b + 1, :n], None, None)
        single = beam_search(tiny_model, alone, beam=3, ctc_weight=0.5)[0]
        assert single.tokens == hyp.tokens
        assert single.score == pytest.approx(hyp.score, abs=1e-4)


def test_language_model_hook_steers_the_search(tiny_model, encoded):
    seen = []

    def only_a(prefixes):
        seen.append(prefixes[:, 0])
        scores = torch.full((prefixes.size(0), len(vocab.CHARS)), -30.0)
        scores[:, A] = 0.0  # the LM is sure that every next character is an A
        return scores.log_softmax(-1)

    hyps = beam_search(tiny_model, encoded, beam=2, ctc_weight=0.0, lm=only_a, lm_weight=5.0)
    assert all((s == vocab.SOS).all() for s in seen)
    assert [set(h.tokens) for h in hyps] == [{A}, {A}]


def test_stable_rows_keep_each_prefixs_best_extension_in_its_row():
    parents = torch.tensor([[0, 0, 2, 1, 2], [3, 3, 3, 3, 3]])  # best extension first
    rows = stable_rows(parents)
    assert rows.sort(1).values.tolist() == [list(range(5))] * 2  # a permutation of the rows
    # the first extension of each prefix stays put; the rest fill unextended rows in order
    assert rows.tolist() == [[0, 3, 2, 1, 4], [3, 0, 1, 2, 4]]


def test_select_copies_only_the_rows_that_change(tiny_model, encoded):
    with torch.no_grad():
        state = init_state(tiny_model.decoder, encoded.hidden[:1], encoded.mask[:1], 5, beams=4)
        for token in (vocab.SOS, A):
            _, state = decoder_step(tiny_model.decoder, torch.full((4,), token), state)
        state.cache[:, :, :, :, :2] = torch.randn_like(state.cache[:, :, :, :, :2])
        before = state.cache[:, :, :, :, :2].clone()
        state.select(torch.tensor([0, 0, 2, 2]))  # rows 1 and 3 continue rows 0 and 2
    after = state.cache[:, :, :, :, :2]
    assert torch.equal(after[:, :, [0, 1, 2, 3]], before[:, :, [0, 0, 2, 2]])


def test_the_rows_hypotheses_sit_in_do_not_change_the_search(tiny_model, encoded, monkeypatch):
    expected = beam_search(tiny_model, encoded, beam=4, ctc_weight=0.3)
    # rows in rank order instead: every step moves most of the cache
    monkeypatch.setattr(decoding, "stable_rows", lambda p: torch.arange(p.size(1)).expand_as(p))
    ranked = beam_search(tiny_model, encoded, beam=4, ctc_weight=0.3)
    assert [h.tokens for h in ranked] == [h.tokens for h in expected]
    assert [h.score for h in ranked] == pytest.approx([h.score for h in expected], abs=1e-5)
