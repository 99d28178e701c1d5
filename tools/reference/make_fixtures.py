#!/usr/bin/env python3
"""Reference fixtures for VideoLong's parity tests, made with PyTorch + transformers (the reference implementation).

Run on the GPU host (transformers 5.17, torch 2.11); everything runs on the CPU in fp32 so the outputs are the exact
fp32 reference. Usage:  python3 tools/reference/make_fixtures.py OUT_DIR
Writes OUT_DIR/{tokenizer,qwen2,qwen2_untied,siglip,llava_onevision}/ with config.json, model.safetensors (HF names),
reference.safetensors (inputs and expected outputs) and reference.json (versions, texts). Tiny random configurations of
the real architectures with fixed seeds; the files are committed under tests/fixtures/reference/ (well under 5 MB).
Each part runs on its own: a failure is written to OUT_DIR/errors.txt and the other parts still run.
"""
import json
import os
import sys
import traceback

import numpy as np
import torch
import transformers
from safetensors.torch import save_file

OUT = sys.argv[1] if len(sys.argv) > 1 else "fixtures"
VERSIONS = {"transformers": transformers.__version__, "torch": torch.__version__, "script": "tools/reference/make_fixtures.py v1"}
ERRORS = []

QWEN2_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_CHAT_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")
SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
VISUAL = ["<image>", "<video>"]

CORPUS = """A rocket lifts off from the launch pad at dawn and climbs over the sea.
People walk along the campus road; a white van is parked near the building.
The video lasts for 79.50 seconds, and 64 frames are uniformly sampled from it.
What colour is the car? Answer with one word. Where does the needle appear?
Find the frame of the red balloon. The answer is 200. Count the people: 3, 4, 5.
Le café est très bon. Über den Wolken. 東京タワーの夜景。 Numbers 0123456789 and symbols #$%&*()[]{}!?.,;:
Tabs\tand  double  spaces, new lines\n\nand more text about long videos, gigapixel images and satellites.
""" * 3


def write(name, config=None, model=None, tensors=None, meta=None):
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    if model is not None:
        model.save_pretrained(d, safe_serialization=True)
    if tensors is not None:
        save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, os.path.join(d, "reference.safetensors"),
                  metadata={"format": "pt", **{k: str(v) for k, v in VERSIONS.items()}})
    with open(os.path.join(d, "reference.json"), "w", encoding="utf-8") as f:
        json.dump({**VERSIONS, **(meta or {})}, f, ensure_ascii=False, indent=2)
    return d


def part(fn):
    def run(*args):
        try:
            return fn(*args)
        except Exception:  # noqa: BLE001 - one part failing must not stop the others
            ERRORS.append(f"== {fn.__name__}\n{traceback.format_exc()}")
            print(f"FAILED {fn.__name__}", file=sys.stderr)
            return None
    return run


@part
def make_tokenizer():
    from tokenizers import Tokenizer, Regex, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)
    trainer = trainers.BpeTrainer(vocab_size=420, special_tokens=SPECIAL, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False, min_frequency=2)
    tok.train_from_iterator([CORPUS], trainer)
    tok.add_special_tokens(VISUAL)
    hf = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                 additional_special_tokens=["<|im_start|>", "<|im_end|>"] + VISUAL,
                                 clean_up_tokenization_spaces=False, model_max_length=32768)
    hf.chat_template = QWEN2_CHAT_TEMPLATE
    d = os.path.join(OUT, "tokenizer")
    os.makedirs(d, exist_ok=True)
    hf.save_pretrained(d)
    tok.model.save(d)  # vocab.json + merges.txt
    with open(os.path.join(d, "chat_template.jinja"), "w", encoding="utf-8") as f:
        f.write(QWEN2_CHAT_TEMPLATE)

    texts = ["Hello world", "The rocket launches at dawn.", "  leading spaces and trailing  ", "line one\nline two\r\n\nline three",
             "numbers 1234567 and 3.14159", "Le café est très bon", "cafe\u0301 (decomposed accent)", "東京タワーの夜景",
             "emoji 🚀🎈 test", "it's they're we'll I'd", "<|im_start|>user\nWhat is in <image>?<|im_end|>", "tabs\t\tand\u00a0nbsp",
             "Find the frame of the red balloon.", ""]
    encode = [{"text": t, "ids": hf.encode(t, add_special_tokens=False)} for t in texts]
    decode = []
    for t in texts[:12]:
        ids = hf.encode(t, add_special_tokens=False)
        for skip in (False, True):
            decode.append({"ids": ids, "skip_special_tokens": skip, "text": hf.decode(ids, skip_special_tokens=skip, clean_up_tokenization_spaces=False)})
    chats = []
    conversations = [
        [{"role": "user", "content": "What happens in the video?"}],
        [{"role": "system", "content": "You answer briefly."}, {"role": "user", "content": "<video>\nWhen does the rocket launch?"}],
        [{"role": "user", "content": "<image>\nDescribe it."}, {"role": "assistant", "content": "A rocket."}, {"role": "user", "content": "Colour?"}],
    ]
    for messages in conversations:
        for gen in (True, False):
            text = hf.apply_chat_template(messages, tokenize=False, add_generation_prompt=gen)
            chats.append({"messages": messages, "add_generation_prompt": gen, "text": text, "ids": hf.encode(text, add_special_tokens=False)})
    with open(os.path.join(d, "cases.json"), "w", encoding="utf-8") as f:
        json.dump({"encode": encode, "decode": decode, "chat": chats, **VERSIONS}, f, ensure_ascii=False, indent=1)
    return hf


def qwen2_config(hf, tied, seed_offset=0):
    from transformers import Qwen2Config
    return Qwen2Config(vocab_size=len(hf), hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                       num_key_value_heads=2, max_position_embeddings=512, rms_norm_eps=1e-6, initializer_range=0.1,
                       tie_word_embeddings=tied, bos_token_id=None, eos_token_id=hf.convert_tokens_to_ids("<|im_end|>"),
                       pad_token_id=hf.convert_tokens_to_ids("<|endoftext|>"), use_sliding_window=False)


@part
def make_qwen2(hf):
    from transformers import Qwen2ForCausalLM
    torch.manual_seed(1)
    model = Qwen2ForCausalLM(qwen2_config(hf, tied=True)).eval()
    text = "The rocket launches at dawn. It rises over the sea, 10 km high!"
    ids = torch.tensor([hf.encode(text, add_special_tokens=False)])
    ones = torch.ones_like(ids)
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=ones).logits
        # V2PE-style float positions (explicit mask: without one transformers reads non-unit steps as packed sequences)
        pos = (torch.arange(ids.shape[1], dtype=torch.float32) * 0.25)[None]
        logits_float = model(input_ids=ids, attention_mask=ones, position_ids=pos).logits

        texts = ["Find the frame of the red balloon.", "Count the people: 3, 4, 5. Where does the needle appear?"]
        pad = hf.convert_tokens_to_ids("<|endoftext|>")
        rows = [hf.encode(t, add_special_tokens=False) for t in texts]
        width = max(len(r) for r in rows)
        batch_ids = torch.tensor([[pad] * (width - len(r)) + r for r in rows])
        batch_mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])
        batch_pos = (batch_mask.cumsum(-1) - 1).masked_fill(batch_mask == 0, 1)
        batch_logits = model(input_ids=batch_ids, attention_mask=batch_mask, position_ids=batch_pos).logits

        prompt = hf.apply_chat_template([{"role": "user", "content": "What happens in the video?"}], tokenize=False, add_generation_prompt=True)
        g = torch.tensor([hf.encode(prompt, add_special_tokens=False)])
        seq = g.clone()
        for _ in range(20):  # greedy, full forward each step: the plain definition, EOS not special
            nxt = model(input_ids=seq, attention_mask=torch.ones_like(seq)).logits[:, -1].argmax(-1, keepdim=True)
            seq = torch.cat([seq, nxt], dim=1)
    write("qwen2", model=model, tensors={
        "input_ids": ids, "logits": logits, "position_ids_float": pos, "logits_float_positions": logits_float,
        "batch_input_ids": batch_ids, "batch_attention_mask": batch_mask, "batch_position_ids": batch_pos, "batch_logits": batch_logits,
        "greedy_input_ids": g, "greedy_output_ids": seq,
    }, meta={"text": text, "batch_texts": texts, "greedy_prompt": prompt})

    torch.manual_seed(2)
    untied = Qwen2ForCausalLM(qwen2_config(hf, tied=False)).eval()
    with torch.no_grad():
        logits_u = untied(input_ids=ids, attention_mask=ones).logits
    write("qwen2_untied", model=untied, tensors={"input_ids": ids, "logits": logits_u}, meta={"text": text})


def siglip_config():
    from transformers import SiglipVisionConfig
    return SiglipVisionConfig(hidden_size=48, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4, num_channels=3,
                              image_size=32, patch_size=8, layer_norm_eps=1e-6)


@part
def make_siglip():
    from transformers import SiglipVisionModel
    torch.manual_seed(3)
    model = SiglipVisionModel(siglip_config()).eval()
    pixels = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        out = model(pixel_values=pixels, output_hidden_states=True)
    tensors = {"pixel_values": pixels, "last_hidden_state": out.last_hidden_state, "pooler_output": out.pooler_output}
    for i, h in enumerate(out.hidden_states):
        tensors[f"hidden_states_{i}"] = h
    write("siglip", model=model, tensors=tensors)


@part
def make_llava_onevision(hf):
    from PIL import Image
    from transformers import LlavaOnevisionConfig, LlavaOnevisionForConditionalGeneration

    image_id = hf.convert_tokens_to_ids("<image>")
    video_id = hf.convert_tokens_to_ids("<video>")
    cfg = LlavaOnevisionConfig(vision_config=siglip_config().to_dict(), text_config=qwen2_config(hf, tied=True).to_dict(),
                               image_token_index=image_id, video_token_index=video_id, vision_feature_select_strategy="full",
                               vision_feature_layer=-1, image_grid_pinpoints=[[32, 32], [32, 64], [64, 32], [64, 64]],
                               projector_hidden_act="gelu", multimodal_projector_bias=True, vision_aspect_ratio="anyres_max_9",
                               tie_word_embeddings=True)
    torch.manual_seed(4)
    model = LlavaOnevisionForConditionalGeneration(cfg).eval()

    captured = {}

    def grab_embeds(_module, args, kwargs):
        if kwargs.get("inputs_embeds") is not None:
            captured["inputs_embeds"] = kwargs["inputs_embeds"].detach().clone()

    lm = model.model.language_model if hasattr(model.model, "language_model") else model.language_model
    lm.register_forward_pre_hook(grab_embeds, with_kwargs=True)

    rng = np.random.default_rng(5)
    image = rng.integers(0, 256, size=(24, 40, 3), dtype=np.uint8)       # H 24, W 40: anyres picks a wide grid
    frames = rng.integers(0, 256, size=(4, 32, 32, 3), dtype=np.uint8)
    tensors = {"image_rgb": torch.from_numpy(image), "video_rgb": torch.from_numpy(frames)}
    meta = {}

    # Image: processor expands <image> into the exact number of feature tokens (base + tiles, unpadded, with newlines).
    processor = build_processor(hf, cfg)
    prompt = hf.apply_chat_template([{"role": "user", "content": "<image>\nWhat is shown?"}], tokenize=False, add_generation_prompt=True)
    inputs = processor(text=prompt, images=[Image.fromarray(image)], return_tensors="pt")
    with torch.no_grad():
        out = model(**inputs)
    tensors.update({"image_input_ids": inputs["input_ids"], "image_pixel_values": inputs["pixel_values"],
                    "image_sizes": inputs["image_sizes"], "image_logits": out.logits, "image_inputs_embeds": captured.pop("inputs_embeds")})
    meta["image_prompt"] = prompt

    prompt_v = hf.apply_chat_template([{"role": "user", "content": "<video>\nWhen does it change?"}], tokenize=False, add_generation_prompt=True)
    inputs_v = processor(text=prompt_v, videos=[frames], return_tensors="pt")
    with torch.no_grad():
        out_v = model(**inputs_v)
    tensors.update({"video_input_ids": inputs_v["input_ids"], "video_pixel_values": inputs_v["pixel_values_videos"],
                    "video_logits": out_v.logits, "video_inputs_embeds": captured.pop("inputs_embeds")})
    meta["video_prompt"] = prompt_v
    meta["processor"] = {k: str(v) for k, v in processor.image_processor.to_dict().items() if k in ("image_mean", "image_std", "size", "image_grid_pinpoints", "resample", "do_pad")}
    write("llava_onevision", model=model, tensors=tensors, meta=meta)


def build_processor(hf, cfg):
    from transformers import LlavaOnevisionImageProcessor, LlavaOnevisionProcessor
    image_processor = LlavaOnevisionImageProcessor(size={"height": 32, "width": 32}, image_grid_pinpoints=cfg.image_grid_pinpoints)
    kwargs = dict(image_processor=image_processor, tokenizer=hf, num_image_tokens=(32 // 8) ** 2,
                  vision_feature_select_strategy="full", chat_template=QWEN2_CHAT_TEMPLATE)
    try:
        from transformers import LlavaOnevisionVideoProcessor
        kwargs["video_processor"] = LlavaOnevisionVideoProcessor(size={"height": 32, "width": 32})
    except ImportError:
        pass
    return LlavaOnevisionProcessor(**kwargs)


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.set_num_threads(8)
    hf = make_tokenizer()
    if hf is not None:
        make_qwen2(hf)
        make_llava_onevision(hf)
    make_siglip()
    with open(os.path.join(OUT, "errors.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(ERRORS) if ERRORS else "none\n")
    print("\n".join(ERRORS) if ERRORS else "all parts done")
    print(json.dumps(VERSIONS))


if __name__ == "__main__":
    main()
