"""Attention and the Transformer against torch: nn.MultiheadAttention and nn.TransformerEncoderLayer
with the same weights, forward and backward (float64 tightly on numpy and cpu, float32 on every
device); the causal mask's promise; positional encodings; clear errors for bad shapes."""
import math

import numpy as np
import pytest
import torch
from conftest import is_slow

from needle_edu import Tensor, init, nn, ops
from needle_edu.gradcheck import check_gradients
from needle_edu.nn.attention import causal_mask, merge_heads, scaled_dot_product_attention, split_heads
from needle_edu.nn.transformer import sinusoidal_encoding

F64 = dict(rtol=1e-10, atol=1e-10)
F32 = dict(rtol=2e-4, atol=2e-5)


def tensor(a, device="cpu", dtype="float64", requires_grad=True):
    return Tensor(np.asarray(a), device=device, dtype=dtype, requires_grad=requires_grad)


def set_linear(linear, torch_linear):
    """Give our Linear (weight (in, out), bias (1, out)) torch's weights (out, in)."""
    like = dict(device=linear.weight.device, dtype=linear.weight.dtype, requires_grad=False)
    linear.weight.data = Tensor(torch_linear.weight.detach().numpy().T, **like)
    linear.bias.data = Tensor(torch_linear.bias.detach().numpy()[None, :], **like)


def set_attention(ours, theirs):
    """Copy torch's nn.MultiheadAttention weights (in_proj packs q, k, v) into ours."""
    d = ours.embed_dim
    packed_w, packed_b = theirs.in_proj_weight.detach().numpy(), theirs.in_proj_bias.detach().numpy()
    like = dict(device=ours.q_proj.weight.device, dtype=ours.q_proj.weight.dtype, requires_grad=False)
    for i, projection in enumerate((ours.q_proj, ours.k_proj, ours.v_proj)):
        projection.weight.data = Tensor(packed_w[i * d:(i + 1) * d].T, **like)
        projection.bias.data = Tensor(packed_b[None, i * d:(i + 1) * d], **like)
    set_linear(ours.out_proj, theirs.out_proj)


def set_norm(ours, theirs):
    like = dict(device=ours.weight.device, dtype=ours.weight.dtype, requires_grad=False)
    ours.weight.data = Tensor(theirs.weight.detach().numpy(), **like)
    ours.bias.data = Tensor(theirs.bias.detach().numpy(), **like)


def torch_attention(d, heads, dtype):
    torch.manual_seed(0)
    module = torch.nn.MultiheadAttention(d, heads, batch_first=True)
    with torch.no_grad():  # non-zero biases, so that a bias in the wrong place shows
        module.in_proj_bias.normal_()
        module.out_proj.bias.normal_()
    return module.double() if dtype == "float64" else module


def tolerances(dtype):
    return F64 if dtype == "float64" else F32


# ------------------------------------------------------------------ multi-head attention against torch

CASES = {  # name: (query length, key length, causal, padding, attn_mask)
    "self": (5, 5, False, False, False),
    "causal": (5, 5, True, False, False),
    "cross-padding": (4, 6, False, True, False),
    "causal-padding-mask": (5, 5, True, True, True),
}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("device_name", ["numpy", "cpu"])
def test_multi_head_attention_matches_torch(case, dtype, device_name):
    length, source, causal, padding, extra = CASES[case]
    d, heads, batch = 8, 2, 3
    rng = np.random.default_rng(1)
    theirs = torch_attention(d, heads, dtype)
    ours = nn.MultiHeadAttention(d, heads, device=device_name, dtype=dtype)
    set_attention(ours, theirs)
    q = rng.standard_normal((batch, length, d))
    kv = q if source == length and not padding else rng.standard_normal((batch, source, d))
    pad = np.zeros((batch, source), bool)
    if padding:
        pad[0, -2:] = pad[2, -1] = True
    extra_mask = rng.standard_normal((length, source)) if extra else None
    torch_dtype = torch.float64 if dtype == "float64" else torch.float32
    tq = torch.tensor(q, dtype=torch_dtype, requires_grad=True)
    tkv = tq if kv is q else torch.tensor(kv, dtype=torch_dtype, requires_grad=True)
    mask = None
    if causal or extra:
        mask = torch.zeros((length, source), dtype=torch_dtype)
        if extra:
            mask = mask + torch.tensor(extra_mask, dtype=torch_dtype)
        if causal:
            mask = mask + torch.nn.Transformer.generate_square_subsequent_mask(length, dtype=torch_dtype)
    torch_pad = torch.tensor(np.where(pad, -np.inf, 0), dtype=torch_dtype) if padding else None
    want, want_weights = theirs(tq, tkv, tkv, key_padding_mask=torch_pad, attn_mask=mask, average_attn_weights=False)

    x = tensor(q, device_name, dtype)
    memory = x if kv is q else tensor(kv, device_name, dtype)
    got, weights = ours(x, memory, memory, key_padding_mask=pad if padding else None, is_causal=causal,
                        attn_mask=None if extra_mask is None else tensor(extra_mask, device_name, dtype, False))
    np.testing.assert_allclose(got.numpy(), want.detach().numpy(), **tolerances(dtype))
    np.testing.assert_allclose(weights.numpy(), want_weights.detach().numpy(), **tolerances(dtype))

    g = rng.standard_normal(want.shape)
    (want * torch.tensor(g, dtype=torch_dtype)).sum().backward()
    (got * tensor(g, device_name, dtype, False)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tq.grad.numpy(), **tolerances(dtype))
    if memory is not x:
        np.testing.assert_allclose(memory.grad.numpy(), tkv.grad.numpy(), **tolerances(dtype))
    d_in = theirs.in_proj_weight.grad.numpy()
    for i, projection in enumerate((ours.q_proj, ours.k_proj, ours.v_proj)):
        np.testing.assert_allclose(projection.weight.grad.numpy(), d_in[i * d:(i + 1) * d].T, **tolerances(dtype))
    np.testing.assert_allclose(ours.out_proj.bias.grad.numpy()[0], theirs.out_proj.bias.grad.numpy(),
                               **tolerances(dtype))


def test_attention_float32_on_every_device(device):
    if is_slow(device):
        d, heads, batch, length = 4, 2, 1, 3
    else:
        d, heads, batch, length = 8, 2, 2, 5
    theirs = torch_attention(d, heads, "float32")
    ours = nn.MultiHeadAttention(d, heads, device=device)
    set_attention(ours, theirs)
    q = np.random.default_rng(2).standard_normal((batch, length, d)).astype("float32")
    tq = torch.tensor(q, requires_grad=True)
    want, _ = theirs(tq, tq, tq, attn_mask=torch.nn.Transformer.generate_square_subsequent_mask(length))
    x = Tensor(q, device=device)
    got, _ = ours(x, is_causal=True)
    np.testing.assert_allclose(got.numpy(), want.detach().numpy(), **F32)
    (want ** 2).sum().backward()
    (got * got).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tq.grad.numpy(), **F32)


def test_attention_gradients_match_finite_differences():
    rng = np.random.default_rng(3)
    init.manual_seed(0)
    module = nn.MultiHeadAttention(4, 2, device="numpy", dtype="float64")
    x = tensor(rng.standard_normal((2, 3, 4)), "numpy")
    memory = tensor(rng.standard_normal((2, 4, 4)), "numpy")
    check_gradients(lambda a, b: module(a, b)[0], x, memory)


def test_scaled_dot_product_attention_over_leading_axes_matches_torch():
    rng = np.random.default_rng(4)
    q, k, v = rng.standard_normal((2, 3, 4, 5)), rng.standard_normal((2, 3, 6, 5)), rng.standard_normal((2, 3, 6, 2))
    mask = np.where(rng.random((4, 6)) < 0.3, -np.inf, 0.0)
    mask[:, 0] = 0  # every query sees at least one key
    tensors = [tensor(a) for a in (q, k, v)]
    out, weights = scaled_dot_product_attention(*tensors, tensor(mask, requires_grad=False))
    torch_inputs = [torch.tensor(a, requires_grad=True) for a in (q, k, v)]
    want = torch.nn.functional.scaled_dot_product_attention(*torch_inputs, attn_mask=torch.tensor(mask))
    np.testing.assert_allclose(out.numpy(), want.detach().numpy(), **F64)
    np.testing.assert_allclose(weights.numpy().sum(-1), 1.0, **F64)
    assert (weights.numpy()[..., mask == -np.inf] == 0).all()
    out.sum().backward()
    want.sum().backward()
    for ours, theirs in zip(tensors, torch_inputs):
        np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), **F64)


def test_heads_split_and_merge_are_inverse_and_keep_features_together():
    x = np.arange(2 * 3 * 8, dtype="float64").reshape(2, 3, 8)
    heads = split_heads(tensor(x), 4)
    assert heads.shape == (2, 4, 3, 2)
    np.testing.assert_array_equal(heads.numpy()[1, 2, 0], x[1, 0, 4:6])  # head 2 holds features 4 and 5
    np.testing.assert_array_equal(merge_heads(heads).numpy(), x)


def test_dropout_drops_attention_weights_only_while_training():
    init.manual_seed(0)
    module = nn.MultiHeadAttention(4, 2, dropout=1.0, device="cpu", dtype="float64")
    x = tensor(np.random.default_rng(5).standard_normal((2, 3, 4)))
    dropped, weights = module(x)
    bias = module.out_proj.bias.numpy()[0]
    np.testing.assert_allclose(dropped.numpy(), np.broadcast_to(bias, (2, 3, 4)), **F64)  # every weight dropped
    np.testing.assert_allclose(weights.numpy().sum(-1), 1.0, **F64)  # the weights returned are before dropout
    module.eval()
    assert np.abs(module(x)[0].numpy() - bias).max() > 1e-3


# ------------------------------------------------------------------ the Transformer layer against torch

def torch_layer(d, heads, ff, activation, dtype):
    torch.manual_seed(1)
    act = "relu" if activation == "relu" else (lambda z: torch.nn.functional.gelu(z, approximate="tanh"))
    layer = torch.nn.TransformerEncoderLayer(d, heads, ff, dropout=0.0, activation=act, batch_first=True,
                                             norm_first=True)
    with torch.no_grad():
        layer.self_attn.in_proj_bias.normal_()
        layer.norm1.weight.normal_()
        layer.norm2.bias.normal_()
    return layer.double() if dtype == "float64" else layer


def set_layer(ours, theirs):
    set_attention(ours.self_attn, theirs.self_attn)
    set_norm(ours.norm1, theirs.norm1)
    set_norm(ours.norm2, theirs.norm2)
    set_linear(ours.feed_forward[0], theirs.linear1)
    set_linear(ours.feed_forward[3], theirs.linear2)


@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_transformer_layer_matches_torch_encoder_layer(activation, dtype):
    d, heads, ff, batch, length = 8, 2, 16, 2, 6
    theirs = torch_layer(d, heads, ff, activation, dtype)
    ours = nn.TransformerLayer(d, heads, ff, activation=activation, device="cpu", dtype=dtype)
    set_layer(ours, theirs)
    x = np.random.default_rng(6).standard_normal((batch, length, d))
    tx = torch.tensor(x, dtype=torch.float64 if dtype == "float64" else torch.float32, requires_grad=True)
    mask = torch.nn.Transformer.generate_square_subsequent_mask(length, dtype=tx.dtype)
    want = theirs(tx, src_mask=mask, is_causal=True)
    ours_x = tensor(x, dtype=dtype)
    got = ours(ours_x, is_causal=True)
    np.testing.assert_allclose(got.numpy(), want.detach().numpy(), **tolerances(dtype))
    (want ** 3).sum().backward()
    (got * got * got).sum().backward()
    np.testing.assert_allclose(ours_x.grad.numpy(), tx.grad.numpy(), **tolerances(dtype))
    np.testing.assert_allclose(ours.feed_forward[0].weight.grad.numpy(), theirs.linear1.weight.grad.numpy().T,
                               **tolerances(dtype))
    np.testing.assert_allclose(ours.norm1.weight.grad.numpy(), theirs.norm1.weight.grad.numpy(), **tolerances(dtype))


def test_transformer_layer_float32_on_every_device(device):
    d, heads, ff, batch, length = (4, 2, 8, 1, 3) if is_slow(device) else (8, 2, 16, 2, 5)
    theirs = torch_layer(d, heads, ff, "relu", "float32")
    ours = nn.TransformerLayer(d, heads, ff, device=device)
    set_layer(ours, theirs)
    x = np.random.default_rng(7).standard_normal((batch, length, d)).astype("float32")
    tx = torch.tensor(x, requires_grad=True)
    want = theirs(tx, src_mask=torch.nn.Transformer.generate_square_subsequent_mask(length), is_causal=True)
    got_x = Tensor(x, device=device)
    got = ours(got_x, is_causal=True)
    np.testing.assert_allclose(got.numpy(), want.detach().numpy(), **F32)
    want.sum().backward()
    got.sum().backward()
    np.testing.assert_allclose(got_x.grad.numpy(), tx.grad.numpy(), **F32)


def test_transformer_stack_is_torch_layers_then_a_final_norm():
    d, heads, layers, length = 8, 2, 3, 5
    ours = nn.Transformer(d, heads, layers, dim_feedforward=16, activation="gelu", device="cpu", dtype="float64")
    theirs = [torch_layer(d, heads, 16, "gelu", "float64") for _ in range(layers)]
    for mine, reference in zip(ours.layers, theirs):
        set_layer(mine, reference)
    final = torch.nn.LayerNorm(d).double()
    x = np.random.default_rng(8).standard_normal((2, length, d))
    h = torch.tensor(x)
    for reference in theirs:
        h = reference(h, src_mask=torch.nn.Transformer.generate_square_subsequent_mask(length, dtype=h.dtype),
                      is_causal=True)
    np.testing.assert_allclose(ours(tensor(x)).numpy(), final(h).detach().numpy(), **F64)
    weights = ours.attention_weights(tensor(x))
    assert [w.shape for w in weights] == [(2, heads, length, length)] * layers
    assert np.all(np.triu(weights[1][0, 1], k=1) == 0)


def test_layer_norm_normalizes_the_last_axis_like_torch():
    x = np.random.default_rng(9).standard_normal((2, 3, 4)) * 3 + 1
    got = nn.LayerNorm(4, device="cpu", dtype="float64")(tensor(x)).numpy()
    np.testing.assert_allclose(got, torch.nn.LayerNorm(4).double()(torch.tensor(x)).detach().numpy(), **F64)


def test_gelu_matches_torch_tanh_approximation():
    x = np.linspace(-5, 5, 41)
    t = torch.tensor(x, requires_grad=True)
    want = torch.nn.functional.gelu(t, approximate="tanh")
    ours = tensor(x)
    got = nn.GELU()(ours)
    np.testing.assert_allclose(got.numpy(), want.detach().numpy(), **F64)
    want.sum().backward()
    got.sum().backward()
    np.testing.assert_allclose(ours.grad.numpy(), t.grad.numpy(), **F64)


# ------------------------------------------------------------------ the causal mask's promise

@pytest.mark.parametrize("model", ["attention", "transformer"])
def test_a_later_token_never_changes_an_earlier_output(model):
    init.manual_seed(2)
    d, length = 8, 7
    if model == "attention":
        module = nn.MultiHeadAttention(d, 2, device="cpu", dtype="float64")
        run = lambda x: module(x, is_causal=True)[0]  # noqa: E731
    else:
        module = nn.Transformer(d, 2, 2, device="cpu", dtype="float64")
        run = module
    rng = np.random.default_rng(10)
    x = rng.standard_normal((2, length, d))
    before = run(tensor(x, requires_grad=False)).numpy()
    for changed in (3, length - 1):
        y = x.copy()
        y[:, changed] = rng.standard_normal((2, d)) * 5
        after = run(tensor(y, requires_grad=False)).numpy()
        np.testing.assert_array_equal(after[:, :changed], before[:, :changed])
        assert np.abs(after[:, changed:] - before[:, changed:]).min(axis=-1).max() > 1e-6


def test_causal_mask_blocks_exactly_the_future():
    mask = causal_mask(4, device="numpy", dtype="float64").numpy()
    np.testing.assert_array_equal(mask == -np.inf, np.triu(np.ones((4, 4), bool), k=1))
    assert (mask[np.tril_indices(4)] == 0).all()


# ------------------------------------------------------------------ positional encodings

def test_sinusoidal_encoding_is_the_formula_and_shifts_by_rotations():
    table = sinusoidal_encoding(50, 16)
    p, i = 7, 3
    assert table[p, 2 * i] == pytest.approx(math.sin(p / 10000 ** (2 * i / 16)))
    assert table[p, 2 * i + 1] == pytest.approx(math.cos(p / 10000 ** (2 * i / 16)))
    # PE(p + k) is PE(p) with each (sin, cos) pair rotated by an angle that depends on k only.
    k, frequency = 5, 10000 ** (-2 * i / 16)
    rotation = np.array([[math.cos(k * frequency), -math.sin(k * frequency)],
                         [math.sin(k * frequency), math.cos(k * frequency)]])
    for p in (0, 11, 30):
        np.testing.assert_allclose(table[p, 2 * i:2 * i + 2] @ rotation, table[p + k, 2 * i:2 * i + 2], atol=1e-12)


def test_positional_encodings_add_a_vector_per_position():
    x = np.zeros((2, 5, 6))
    fixed = nn.PositionalEncoding(6, max_len=10, device="cpu", dtype="float64")
    np.testing.assert_allclose(fixed(tensor(x)).numpy(), np.broadcast_to(sinusoidal_encoding(5, 6), (2, 5, 6)), **F64)
    assert fixed.parameters() == []
    learned = nn.LearnedPositionalEncoding(6, max_len=10, device="cpu", dtype="float64")
    out = learned(tensor(x))
    np.testing.assert_allclose(out.numpy()[1], learned.weight.numpy()[:5], **F64)
    out.sum().backward()
    np.testing.assert_allclose(learned.weight.grad.numpy(), np.r_[np.full((5, 6), 2.0), np.zeros((5, 6))], **F64)
    with pytest.raises(ValueError, match=r"PositionalEncoding: expected \(batch, length <= 10, dim\)"):
        fixed(tensor(np.zeros((1, 11, 6))))


# ------------------------------------------------------------------ the ops attention needs

def test_batched_matmul_gradient_sums_over_broadcast_batch_axes_like_torch():
    rng = np.random.default_rng(11)
    for a_shape, b_shape in [((2, 1, 3, 4), (5, 4, 2)), ((3, 4), (2, 2, 4, 5)), ((2, 3, 3, 4), (1, 3, 4, 2))]:
        a, b = rng.standard_normal(a_shape), rng.standard_normal(b_shape)
        ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
        A, B = tensor(a), tensor(b)
        out = A @ B
        g = rng.standard_normal(out.shape)
        (ta @ tb).backward(torch.tensor(g))
        out.backward(tensor(g, requires_grad=False))
        np.testing.assert_allclose(A.grad.numpy(), ta.grad.numpy(), **F64)
        np.testing.assert_allclose(B.grad.numpy(), tb.grad.numpy(), **F64)


def test_softmax_is_stable_for_large_scores_and_its_gradient_matches_torch():
    x = np.array([[1000.0, 999.0, -1000.0], [-np.inf, 0.0, 2.0]])
    t = torch.tensor(x, requires_grad=True)
    ours = tensor(x)
    got = ops.softmax(ours, axis=-1)
    want = torch.softmax(t, dim=-1)
    np.testing.assert_allclose(got.numpy(), want.detach().numpy(), **F64)
    g = np.random.default_rng(12).standard_normal(x.shape)
    want.backward(torch.tensor(g))
    got.backward(tensor(g, requires_grad=False))
    np.testing.assert_allclose(ours.grad.numpy(), t.grad.numpy(), **F64)


# ------------------------------------------------------------------ errors before any kernel runs

def test_bad_shapes_raise_clear_errors():
    with pytest.raises(ValueError, match="embed_dim 10 is not divisible by num_heads 4"):
        nn.MultiHeadAttention(10, 4)
    with pytest.raises(ValueError, match="embed_dim 10 is not divisible by num_heads 3"):
        nn.TransformerLayer(10, 3)
    module = nn.MultiHeadAttention(8, 2, device="cpu", dtype="float64")
    x = tensor(np.zeros((2, 5, 8)))
    with pytest.raises(ValueError, match=r"attn_mask must have shape \(5, 5\), got \(5, 4\)"):
        module(x, attn_mask=np.zeros((5, 4), bool))
    with pytest.raises(ValueError, match=r"key_padding_mask must have shape \(2, 5\), got \(5, 2\)"):
        module(x, key_padding_mask=np.zeros((5, 2), bool))
    with pytest.raises(ValueError, match=r"query must be \(batch, length, 8\), got shape \(2, 5, 6\)"):
        module(tensor(np.zeros((2, 5, 6))))
    with pytest.raises(ValueError, match=r"is_causal needs as many queries as keys, got 5 and 3"):
        module(x, tensor(np.zeros((2, 3, 8))), is_causal=True)
    with pytest.raises(ValueError, match=r"LayerNorm: expected inputs of shape \(\.\.\., 8\), got \(2, 5, 6\)"):
        nn.LayerNorm(8)(tensor(np.zeros((2, 5, 6)), dtype="float32"))
    with pytest.raises(ValueError, match="activation must be one of"):
        nn.TransformerLayer(8, 2, activation="swish")


def test_projections_start_xavier_uniform_with_zero_biases_as_in_torch():
    init.manual_seed(3)
    module = nn.MultiHeadAttention(64, 4, device="numpy", dtype="float64")
    bound = math.sqrt(6 / (64 + 64))
    for projection in (module.q_proj, module.k_proj, module.v_proj, module.out_proj):
        weights = projection.weight.numpy()
        assert weights.shape == (64, 64) and np.abs(weights).max() <= bound
        assert np.abs(weights).max() > 0.95 * bound and abs(weights.std() - bound / math.sqrt(3)) < 0.05 * bound
        np.testing.assert_array_equal(projection.bias.numpy(), np.zeros((1, 64)))
    assert len(module.parameters()) == 8
