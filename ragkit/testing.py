"""Tools for testing ragkit and apps built on it without real model weights.

`build_phi3_gguf` writes a random-weight GGUF of llama.cpp's real ``phi3``
architecture, with phi-3's tokenizer layout (SentencePiece "llama" model with
byte fallback), special tokens and chat template. llama.cpp runs its genuine
phi-3 code path on it, so prompt formatting, tokenization, context sizing and
streaming are exercised exactly as with phi-3-mini, in milliseconds. Its
answers are noise: assert on structure, never on content.

Needs the optional ``gguf`` package (``pip install ragkit[test]``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# Phi-3-mini-128k-instruct's chat template (tokenizer_config.json, July 2024 update).
PHI3_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}{{'<|system|>\n' + message['content'] + '<|end|>\n'}}"
    "{% elif message['role'] == 'user' %}{{'<|user|>\n' + message['content'] + '<|end|>\n'}}"
    "{% elif message['role'] == 'assistant' %}{{'<|assistant|>\n' + message['content'] + '<|end|>\n'}}"
    "{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% else %}{{ eos_token }}{% endif %}"
)

# phi-3's added tokens, in vocabulary order after the 32000 SentencePiece pieces.
PHI3_SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|assistant|>",
    "<|placeholder1|>",
    "<|placeholder2|>",
    "<|placeholder3|>",
    "<|placeholder4|>",
    "<|system|>",
    "<|end|>",
    "<|placeholder5|>",
    "<|placeholder6|>",
    "<|user|>",
]

_DEFAULT_WORDS = [
    "the",
    "a",
    "an",
    "and",
    "or",
    "of",
    "to",
    "in",
    "on",
    "for",
    "is",
    "are",
    "was",
    "be",
    "it",
    "this",
    "that",
    "with",
    "as",
    "by",
    "at",
    "from",
    "answer",
    "question",
    "passage",
    "source",
    "cite",
    "cannot",
    "find",
    "documents",
    "key",
    "keys",
    "api",
    "rotate",
    "rotated",
    "rotation",
    "password",
    "token",
    "secret",
    "config",
    "file",
    "line",
    "page",
    "model",
    "index",
    "chunk",
    "search",
    "ask",
    "i",
    "you",
    "we",
    "they",
    "he",
    "she",
    "not",
    "no",
    "yes",
    "can",
    "will",
    "do",
    "does",
    "how",
    "what",
    "when",
    "where",
    "why",
    "which",
    "who",
]


@dataclass(frozen=True)
class Phi3Shape:
    """Hyper-parameters of the generated model. The defaults make a tiny model;
    `PHI3_MINI_SHAPE` has phi-3-mini's real dimensions (for speed benchmarks)."""

    n_embd: int = 64
    n_layer: int = 2
    n_head: int = 2  # head size 32: llama.cpp quantizes KV caches in blocks of 32
    n_ff: int = 128
    context_length: int = 131072  # the 128K variant: LongRoPE factors are written too
    original_context_length: int = 4096
    vocab_size: int | None = None  # None: as many pieces as the word list needs


PHI3_MINI_SHAPE = Phi3Shape(n_embd=3072, n_layer=32, n_head=32, n_ff=8192, vocab_size=32064)


def _sentencepiece_vocab(words: list[str], vocab_size: int | None) -> tuple[list[str], list[float], list[int]]:
    """Build a SentencePiece-style vocabulary: <unk>, <s>, </s>, 256 byte tokens,
    then every prefix of every "▁word" (SPM merges only form a piece whose
    prefixes exist), then phi-3's special tokens."""
    from gguf import TokenType

    tokens = ["<unk>", "<s>", "</s>"]
    types = [TokenType.UNKNOWN, TokenType.CONTROL, TokenType.CONTROL]
    tokens += [f"<0x{b:02X}>" for b in range(256)]
    types += [TokenType.BYTE] * 256
    pieces: list[str] = []
    seen: set[str] = set(tokens)
    for form in ["▁"] + [f for word in words for f in ("▁" + word, word)]:
        for end in range(1, len(form) + 1):
            piece = form[:end]
            if piece not in seen:
                seen.add(piece)
                pieces.append(piece)
    n_normal = len(pieces)
    if vocab_size is not None:
        filler = vocab_size - len(tokens) - len(pieces) - len(PHI3_SPECIAL_TOKENS)
        if filler < 0:
            raise ValueError(f"vocab_size {vocab_size} is too small for the word list")
        pieces += [f"▁fill{i}" for i in range(filler)]
        n_normal = len(pieces)
    tokens += pieces
    types += [TokenType.NORMAL] * n_normal
    # Longer pieces score higher so SPM prefers the longest merge.
    scores = [0.0] * (3 + 256) + [float(len(p)) - i * 1e-6 for i, p in enumerate(pieces)]
    tokens += PHI3_SPECIAL_TOKENS
    types += [TokenType.CONTROL] * len(PHI3_SPECIAL_TOKENS)
    scores += [0.0] * len(PHI3_SPECIAL_TOKENS)
    return tokens, scores, [int(t) for t in types]


def build_phi3_gguf(
    path: str | Path,
    shape: Phi3Shape = Phi3Shape(),
    words: list[str] | None = None,
    seed: int = 0,
    name: str = "tiny-phi3-random",
    matrix_type: str = "f32",
) -> Path:
    """Write a random-weight phi3-architecture GGUF to `path`: norms in f32,
    weight matrices in `matrix_type` ("f32", or "f16" to halve the file and
    the memory needed to write it, which matters at phi-3-mini's size)."""
    import numpy as np
    from gguf import GGUFWriter

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tokens, scores, types = _sentencepiece_vocab(list(words or _DEFAULT_WORDS), shape.vocab_size)
    n_vocab = len(tokens)
    head_dim = shape.n_embd // shape.n_head
    rng = np.random.default_rng(seed)

    if matrix_type not in ("f32", "f16"):
        raise ValueError(f"matrix_type must be f32 or f16, not {matrix_type!r}")
    dtype = np.float16 if matrix_type == "f16" else np.float32
    # llama.cpp's speed does not depend on the values, so large matrices repeat
    # one random block: drawing 3.8 billion normals would take minutes.
    block = (rng.standard_normal(1 << 20) * 0.02).astype(dtype)

    def weights(*numpy_shape: int) -> np.ndarray:
        size = int(np.prod(numpy_shape))
        if size <= block.size:
            return (rng.standard_normal(numpy_shape) * 0.02).astype(dtype)
        return np.resize(block, size).reshape(numpy_shape)

    writer = GGUFWriter(str(path), "phi3")
    writer.add_name(name)
    writer.add_context_length(shape.context_length)
    writer.add_embedding_length(shape.n_embd)
    writer.add_feed_forward_length(shape.n_ff)
    writer.add_block_count(shape.n_layer)
    writer.add_head_count(shape.n_head)
    writer.add_head_count_kv(shape.n_head)  # phi-3-mini has no grouped-query attention
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_rope_dimension_count(head_dim)
    writer.add_rope_freq_base(10000.0)
    writer.add_rope_scaling_orig_ctx_len(shape.original_context_length)
    writer.add_file_type(1 if matrix_type == "f16" else 0)  # 0: all f32, 1: mostly f16
    writer.add_tokenizer_model("llama")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(tokens.index("<|endoftext|>"))
    writer.add_unk_token_id(0)
    writer.add_pad_token_id(tokens.index("<|endoftext|>"))
    writer.add_add_bos_token(False)
    writer.add_add_eos_token(False)
    writer.add_chat_template(PHI3_CHAT_TEMPLATE)

    # numpy shapes are the reverse of ggml's {ne0, ne1}.
    writer.add_tensor("token_embd.weight", weights(n_vocab, shape.n_embd))
    if shape.context_length > shape.original_context_length:
        writer.add_tensor("rope_factors_long.weight", np.linspace(1.0, 8.0, head_dim // 2, dtype=np.float32))
        writer.add_tensor("rope_factors_short.weight", np.ones(head_dim // 2, dtype=np.float32))
    for i in range(shape.n_layer):
        writer.add_tensor(f"blk.{i}.attn_norm.weight", np.ones(shape.n_embd, dtype=np.float32))
        writer.add_tensor(f"blk.{i}.attn_qkv.weight", weights(3 * shape.n_embd, shape.n_embd))
        writer.add_tensor(f"blk.{i}.attn_output.weight", weights(shape.n_embd, shape.n_embd))
        writer.add_tensor(f"blk.{i}.ffn_norm.weight", np.ones(shape.n_embd, dtype=np.float32))
        writer.add_tensor(f"blk.{i}.ffn_up.weight", weights(2 * shape.n_ff, shape.n_embd))
        writer.add_tensor(f"blk.{i}.ffn_down.weight", weights(shape.n_embd, shape.n_ff))
    writer.add_tensor("output_norm.weight", np.ones(shape.n_embd, dtype=np.float32))
    writer.add_tensor("output.weight", weights(n_vocab, shape.n_embd))

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
