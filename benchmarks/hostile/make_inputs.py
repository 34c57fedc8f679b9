#!/usr/bin/env python3
"""Writes the hostile inputs of benchmarks/hostile/run.sh into OUTDIR (standard library only).

Each file is made here from the format's definition: pickle opcodes, the zip and PNG layouts,
the safetensors header. Nothing is copied from elsewhere.
"""
import json
import os
import struct
import sys
import zipfile
import zlib

out = sys.argv[1]
os.makedirs(out, exist_ok=True)


def path(name):
    return os.path.join(out, name)


def torch_zip(name, pickle_bytes):
    """A torch.save-style zip archive whose data.pkl holds pickle_bytes."""
    with zipfile.ZipFile(path(name), "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", pickle_bytes)
        z.writestr("archive/version", b"3\n")


# Protocol-2 opcodes.
PROTO, STOP = b"\x80\x02", b"."
EMPTY_LIST, APPEND, APPENDS, MARK, POP = b"]", b"a", b"e", b"(", b"0"
BINPUT, BINGET, LONG_BINPUT, LONG_BINGET = b"q", b"h", b"r", b"j"

# "Billion laughs": list n holds ten references to list n - 1 (memo reuse): 10^30 elements when walked.
p = PROTO + EMPTY_LIST + LONG_BINPUT + struct.pack("<I", 0) + POP
for level in range(1, 31):
    p += EMPTY_LIST + MARK + (LONG_BINGET + struct.pack("<I", level - 1)) * 10 + APPENDS
    p += LONG_BINPUT + struct.pack("<I", level) + (POP if level < 30 else b"")
torch_zip("laughs.ckpt", p + STOP)

# A list that contains itself.
torch_zip("self-reference.ckpt", PROTO + EMPTY_LIST + BINPUT + b"\x00" + BINGET + b"\x00" + APPEND + STOP)

# 200,000 nested lists.
torch_zip("deep.ckpt", PROTO + EMPTY_LIST * 200_000 + APPEND * 199_999 + STOP)

# A zip entry that declares 1 KiB and inflates to 256 MiB of zeros.
inflated = 256 << 20
deflater = zlib.compressobj(9, zlib.DEFLATED, -15)
body = deflater.compress(b"\0" * inflated) + deflater.flush()
crc = zlib.crc32(b"\0" * inflated)
name = b"archive/data.pkl"
local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, crc, len(body), 1024, len(name), 0) + name
central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0, crc, len(body), 1024, len(name), 0, 0, 0, 0,
                      0, 0) + name
end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central), len(local) + len(body), 0)
with open(path("lying-zip.ckpt"), "wb") as f:
    f.write(local + body + central + end)


def safetensors(name, header, data=b""):
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path(name), "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + data)


# A tensor of 2^40 floats in a file of a few hundred bytes.
safetensors("huge-tensor.safetensors", {"w": {"dtype": "F32", "shape": [1 << 40], "data_offsets": [0, 4 << 40]}})
# A header length past the end of the file.
with open(path("truncated.safetensors"), "wb") as f:
    f.write(struct.pack("<Q", 1 << 30) + b'{"w":')
# A LoRA whose down weights are NaN, on one attention projection of the embedded default model.
nan = struct.pack("<f", float("nan"))
key = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q"
safetensors("nan-lora.safetensors", {
    key + ".lora_down.weight": {"dtype": "F32", "shape": [4, 32], "data_offsets": [0, 512]},
    key + ".lora_up.weight": {"dtype": "F32", "shape": [32, 4], "data_offsets": [512, 1024]},
    key + ".alpha": {"dtype": "F32", "shape": [], "data_offsets": [1024, 1028]},
}, nan * 128 + struct.pack("<f", 0.01) * 128 + struct.pack("<f", 4.0))


def png(name, width, height, idat):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    with open(path(name), "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


# A decompression bomb: 50,000 x 50,000 RGB (7.5 GB decoded) in a file of a few MB.
os.makedirs(path("bomb-images"), exist_ok=True)
png("bomb-images/bomb.png", 50_000, 50_000, zlib.compress(b"\0" * (64 << 20), 9))

# DeepFashion In-shop folders whose partition list names a file outside the dataset, and one
# that is not UTF-8.
for folder, line in (("inshop-escape", b"../../../../etc/passwd id_00000001 train\n"),
                     ("inshop-latin1", b"img/WOMEN/Dresses/id_00000001/caf\xe9.jpg id_00000001 train\n")):
    os.makedirs(path(folder + "/Eval"), exist_ok=True)
    with open(path(folder + "/Eval/list_eval_partition.txt"), "wb") as f:
        f.write(b"1\nimage_name item_id evaluation_status\n" + line)

# An LDM YAML whose aliases expand exponentially.
with open(path("laughs.yaml"), "w") as f:
    f.write('a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n')
    for i, (prev, cur) in enumerate(zip("abcdefgh", "bcdefghi")):
        f.write(f"{cur}: &{cur} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]\n")
    f.write("model: {params: {unet_config: *i}}\n")
