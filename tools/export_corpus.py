"""Write the ONNX fixtures of the real-architecture corpus (tests/fixtures/corpus/), once, with PyTorch.

Run with a PyTorch environment (PyTorch is never a dependency of Easel):

    python3.11 -m venv /tmp/torchenv && /tmp/torchenv/bin/pip install torch onnx onnxscript numpy
    /tmp/torchenv/bin/python tools/export_corpus.py            # rewrites tests/fixtures/corpus/

Each architecture below is a small-width rebuild of a canonical public generator, following the
structure of its own source (random weights, seeded): the widths shrink, the layer sequence does not.
Each is wrapped the way the template README's PyTorch snippet wraps a generator (NHWC in and out, in
[-1, 1]) and exported the ways participants export them: the legacy TorchScript exporter
(``dynamo=False``), the exporter ``torch.onnx.export`` uses by default today, and float16 weights
behind float32 inputs and outputs. Next to every model, ``golden.npz`` keeps PyTorch's own output on a
seeded input, so the tests check that ONNX Runtime computes what PyTorch computed.

The template README's PyTorch snippet itself is run twice, as written and with the default exporter
(the line ``dynamo=False`` dropped): the default exporter writes opset 18 whatever ``opset_version``
asks for. ``manifest.json`` records the snippet's sha256 so the tests notice when the README changes.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import re
import sys
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "tests" / "fixtures" / "corpus"
TEMPLATE_README = REPO / "submissions" / "_template" / "README.md"
SIZE = 32  # the tests' track size: every model here takes 32 x 32 images (the U-Nets need a multiple of 32)
GOLDEN_SEED = 20261202  # numpy default_rng seed of the golden inputs (the tests rebuild them from it)


# --- junyanz/pytorch-CycleGAN-and-pix2pix: models/networks.py ------------------------------------------

class ResnetBlock(nn.Module):
    """Reflection pad, 3x3 conv, norm, ReLU, (no dropout), reflection pad, 3x3 conv, norm; plus the input."""

    def __init__(self, dim: int, norm):
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=True), norm(dim), nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=True), norm(dim))

    def forward(self, x):
        return x + self.conv_block(x)


class ResnetGenerator(nn.Module):
    """CycleGAN's generator (``resnet_9blocks`` at ngf 64; here ngf 4 and 2 blocks), instance norm."""

    def __init__(self, ngf: int = 4, n_blocks: int = 2):
        super().__init__()
        norm = lambda c: nn.InstanceNorm2d(c, affine=False, track_running_stats=False)  # noqa: E731
        layers = [nn.ReflectionPad2d(3), nn.Conv2d(3, ngf, 7, bias=True), norm(ngf), nn.ReLU(True)]
        for i in range(2):  # downsampling
            mult = 2 ** i
            layers += [nn.Conv2d(ngf * mult, ngf * mult * 2, 3, stride=2, padding=1, bias=True),
                       norm(ngf * mult * 2), nn.ReLU(True)]
        layers += [ResnetBlock(ngf * 4, norm) for _ in range(n_blocks)]
        for i in range(2):  # upsampling
            mult = 2 ** (2 - i)
            layers += [nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, 3, stride=2, padding=1,
                                          output_padding=1, bias=True),
                       norm(ngf * mult // 2), nn.ReLU(True)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, 3, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x)


class UnetSkipConnectionBlock(nn.Module):
    """One level of the pix2pix U-Net: down, the submodule, up, concatenated with the input."""

    def __init__(self, outer_nc, inner_nc, input_nc=None, submodule=None, outermost=False, innermost=False):
        super().__init__()
        self.outermost = outermost
        input_nc = outer_nc if input_nc is None else input_nc
        downconv = nn.Conv2d(input_nc, inner_nc, 4, stride=2, padding=1, bias=False)  # BatchNorm: no bias
        downrelu, downnorm = nn.LeakyReLU(0.2, True), nn.BatchNorm2d(inner_nc)
        uprelu, upnorm = nn.ReLU(True), nn.BatchNorm2d(outer_nc)
        if outermost:
            upconv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, 4, stride=2, padding=1)
            model = [downconv, submodule, uprelu, upconv, nn.Tanh()]
        elif innermost:
            upconv = nn.ConvTranspose2d(inner_nc, outer_nc, 4, stride=2, padding=1, bias=False)
            model = [downrelu, downconv, uprelu, upconv, upnorm]
        else:
            upconv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, 4, stride=2, padding=1, bias=False)
            model = [downrelu, downconv, downnorm, submodule, uprelu, upconv, upnorm]
        self.model = nn.Sequential(*model)

    def forward(self, x):
        return self.model(x) if self.outermost else torch.cat([x, self.model(x)], 1)


class UnetGenerator(nn.Module):
    """pix2pix's generator (``unet_256``: 8 levels at ngf 64; here 5 levels for 32 px, ngf 4), batch norm."""

    def __init__(self, num_downs: int = 5, ngf: int = 4):
        super().__init__()
        block = UnetSkipConnectionBlock(ngf * 8, ngf * 8, innermost=True)
        for _ in range(num_downs - 5):
            block = UnetSkipConnectionBlock(ngf * 8, ngf * 8, submodule=block)
        block = UnetSkipConnectionBlock(ngf * 4, ngf * 8, submodule=block)
        block = UnetSkipConnectionBlock(ngf * 2, ngf * 4, submodule=block)
        block = UnetSkipConnectionBlock(ngf, ngf * 2, submodule=block)
        self.model = UnetSkipConnectionBlock(3, ngf, input_nc=3, submodule=block, outermost=True)

    def forward(self, x):
        return self.model(x)


# --- pytorch/examples: fast_neural_style/neural_style/transformer_net.py ---------------------------------

class ConvLayer(nn.Module):
    def __init__(self, cin, cout, kernel, stride):
        super().__init__()
        self.reflection_pad = nn.ReflectionPad2d(kernel // 2)
        self.conv2d = nn.Conv2d(cin, cout, kernel, stride)

    def forward(self, x):
        return self.conv2d(self.reflection_pad(x))


class ResidualBlock(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.conv1, self.in1 = ConvLayer(channels, channels, 3, 1), nn.InstanceNorm2d(channels, affine=True)
        self.conv2, self.in2 = ConvLayer(channels, channels, 3, 1), nn.InstanceNorm2d(channels, affine=True)

    def forward(self, x):
        return self.in2(self.conv2(F.relu(self.in1(self.conv1(x))))) + x


class UpsampleConvLayer(nn.Module):
    """Nearest upsampling then a convolution (the example's answer to checkerboard artefacts)."""

    def __init__(self, cin, cout, kernel, stride, upsample=None):
        super().__init__()
        self.upsample = upsample
        self.reflection_pad = nn.ReflectionPad2d(kernel // 2)
        self.conv2d = nn.Conv2d(cin, cout, kernel, stride)

    def forward(self, x):
        if self.upsample:
            x = F.interpolate(x, mode="nearest", scale_factor=self.upsample)
        return self.conv2d(self.reflection_pad(x))


class TransformerNet(nn.Module):
    """Johnson et al.'s network as in pytorch/examples (widths 32/64/128 there, 4/8/16 here), 5 residual blocks.

    Works in [0, 255] pixels with no final activation, as the example does."""

    def __init__(self, width: int = 4):
        super().__init__()
        w = width
        self.conv1, self.in1 = ConvLayer(3, w, 9, 1), nn.InstanceNorm2d(w, affine=True)
        self.conv2, self.in2 = ConvLayer(w, 2 * w, 3, 2), nn.InstanceNorm2d(2 * w, affine=True)
        self.conv3, self.in3 = ConvLayer(2 * w, 4 * w, 3, 2), nn.InstanceNorm2d(4 * w, affine=True)
        self.res = nn.Sequential(*[ResidualBlock(4 * w) for _ in range(5)])
        self.deconv1, self.in4 = UpsampleConvLayer(4 * w, 2 * w, 3, 1, upsample=2), nn.InstanceNorm2d(2 * w, affine=True)
        self.deconv2, self.in5 = UpsampleConvLayer(2 * w, w, 3, 1, upsample=2), nn.InstanceNorm2d(w, affine=True)
        self.deconv3 = ConvLayer(w, 3, 9, 1)
        self.relu = nn.ReLU()

    def forward(self, x):
        y = self.relu(self.in1(self.conv1(x)))
        y = self.relu(self.in2(self.conv2(y)))
        y = self.relu(self.in3(self.conv3(y)))
        y = self.res(y)
        y = self.relu(self.in4(self.deconv1(y)))
        y = self.relu(self.in5(self.deconv2(y)))
        return self.deconv3(y)


# --- naoto0804/pytorch-AdaIN: net.py, function.py ---------------------------------------------------------

def calc_mean_std(feat, eps=1e-5):
    n, c = feat.shape[:2]
    var = feat.reshape(n, c, -1).var(dim=2) + eps
    return var.sqrt().reshape(n, c, 1, 1), feat.reshape(n, c, -1).mean(dim=2).reshape(n, c, 1, 1)


def adaptive_instance_normalization(content, style):
    style_std, style_mean = calc_mean_std(style)
    content_std, content_mean = calc_mean_std(content)
    return (content - content_mean) / content_std * style_std + style_mean


def _vgg_encoder(w):
    """VGG-19 normalised up to relu4_1 (widths 64/128/256/512 there, w..8w here), as in net.py's ``vgg``."""
    conv = lambda cin, cout: [nn.ReflectionPad2d(1), nn.Conv2d(cin, cout, 3), nn.ReLU()]  # noqa: E731
    pool = lambda: [nn.MaxPool2d(2, 2, 0, ceil_mode=True)]  # noqa: E731
    layers = [nn.Conv2d(3, 3, 1)]
    layers += conv(3, w) + conv(w, w) + pool()                                   # relu1_1, relu1_2
    layers += conv(w, 2 * w) + conv(2 * w, 2 * w) + pool()                       # relu2_x
    layers += conv(2 * w, 4 * w) + sum((conv(4 * w, 4 * w) for _ in range(3)), []) + pool()  # relu3_x
    layers += conv(4 * w, 8 * w)                                                 # relu4_1
    return nn.Sequential(*layers)


def _adain_decoder(w):
    conv = lambda cin, cout: [nn.ReflectionPad2d(1), nn.Conv2d(cin, cout, 3), nn.ReLU()]  # noqa: E731
    up = lambda: [nn.Upsample(scale_factor=2, mode="nearest")]  # noqa: E731
    layers = conv(8 * w, 4 * w) + up() + sum((conv(4 * w, 4 * w) for _ in range(3)), [])
    layers += conv(4 * w, 2 * w) + up() + conv(2 * w, 2 * w) + conv(2 * w, w) + up() + conv(w, w)
    layers += [nn.ReflectionPad2d(1), nn.Conv2d(w, 3, 3)]
    return nn.Sequential(*layers)


class AdaIN(nn.Module):
    """Huang & Belongie's style transfer: encode both, AdaIN, decode (test.py's ``style_transfer``, alpha 1).

    Two inputs, content and style; images in [0, 1] as the repository's transforms give them."""

    def __init__(self, width: int = 4):
        super().__init__()
        self.encoder, self.decoder = _vgg_encoder(width), _adain_decoder(width)
        # He initialisation: trained VGG weights keep the signal alive through ten ReLU convolutions; with
        # PyTorch's default initialisation a 2-wide random encoder goes dead and the output is constant.
        for layer in self.modules():
            if isinstance(layer, nn.Conv2d):
                nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
                nn.init.zeros_(layer.bias)

    def forward(self, content, style):
        return self.decoder(adaptive_instance_normalization(self.encoder(content), self.encoder(style)))


# --- bryandlee/animegan2-pytorch: model.py --------------------------------------------------------------

class ConvNormLReLU(nn.Sequential):
    def __init__(self, cin, cout, kernel=3, stride=1, padding=1, groups=1, bias=False):
        super().__init__(nn.ReflectionPad2d(padding), nn.Conv2d(cin, cout, kernel, stride, 0, groups=groups, bias=bias),
                         nn.GroupNorm(1, cout, affine=True), nn.LeakyReLU(0.2, inplace=True))


class InvertedResBlock(nn.Module):
    def __init__(self, cin, cout, expansion_ratio=2):
        super().__init__()
        self.use_res_connect = cin == cout
        bottleneck = int(round(cin * expansion_ratio))
        self.layers = nn.Sequential(
            ConvNormLReLU(cin, bottleneck, kernel=1, padding=0),
            ConvNormLReLU(bottleneck, bottleneck, groups=bottleneck, bias=True),  # depthwise
            nn.Conv2d(bottleneck, cout, 1, bias=False), nn.GroupNorm(1, cout, affine=True))

    def forward(self, x):
        out = self.layers(x)
        return x + out if self.use_res_connect else out


class AnimeGANv2(nn.Module):
    """AnimeGANv2's generator as ported by bryandlee (widths 32..256 there, 2..16 here); bilinear
    upsampling with ``align_corners=True`` back to the sizes seen on the way down."""

    def __init__(self, w: int = 2):
        super().__init__()
        self.block_a = nn.Sequential(ConvNormLReLU(3, w, kernel=7, padding=3),
                                     ConvNormLReLU(w, 2 * w, stride=2, padding=(0, 1, 0, 1)),
                                     ConvNormLReLU(2 * w, 2 * w))
        self.block_b = nn.Sequential(ConvNormLReLU(2 * w, 4 * w, stride=2, padding=(0, 1, 0, 1)),
                                     ConvNormLReLU(4 * w, 4 * w))
        self.block_c = nn.Sequential(ConvNormLReLU(4 * w, 4 * w), InvertedResBlock(4 * w, 8 * w),
                                     InvertedResBlock(8 * w, 8 * w), InvertedResBlock(8 * w, 8 * w),
                                     InvertedResBlock(8 * w, 8 * w), ConvNormLReLU(8 * w, 4 * w))
        self.block_d = nn.Sequential(ConvNormLReLU(4 * w, 4 * w), ConvNormLReLU(4 * w, 4 * w))
        self.block_e = nn.Sequential(ConvNormLReLU(4 * w, 2 * w), ConvNormLReLU(2 * w, 2 * w),
                                     ConvNormLReLU(2 * w, w, kernel=7, padding=3))
        self.out_layer = nn.Sequential(nn.Conv2d(w, 3, 1, bias=False), nn.Tanh())

    def forward(self, x):
        out = self.block_a(x)
        half_size = out.size()[-2:]
        out = self.block_c(self.block_b(out))
        out = F.interpolate(out, half_size, mode="bilinear", align_corners=True)
        out = self.block_d(out)
        out = F.interpolate(out, x.size()[-2:], mode="bilinear", align_corners=True)
        return self.out_layer(self.block_e(out))


# --- NHWC wrappers: the template README's snippet, per each source's own pixel range ------------------------

class NHWC(nn.Module):
    """[N, H, W, 3] in [-1, 1] -> the generator's NCHW in its own range -> [N, H, W, 3] in [-1, 1].

    ``pixels``: the range the generator works in: "signed" ([-1, 1], tanh heads), "unit" ([0, 1], AdaIN)
    or "bytes" ([0, 255], fast-neural-style); the last two clamp their output as the sources' savers do.
    ``half``: run the generator in float16 (inputs and outputs stay float32)."""

    def __init__(self, net, pixels="signed", half=False):
        super().__init__()
        self.net, self.pixels, self.half = net, pixels, half

    def _to_net(self, x):
        x = x.permute(0, 3, 1, 2)
        x = {"signed": x, "unit": (x + 1) * 0.5, "bytes": (x + 1) * 127.5}[self.pixels]
        return x.half() if self.half else x

    def forward(self, image, style=None):  # named arguments: the new exporter maps dynamic axes by name
        images = (image,) if style is None else (image, style)
        y = self.net(*(self._to_net(x) for x in images)).float()
        if self.pixels == "unit":
            y = y.clamp(0, 1) * 2 - 1
        elif self.pixels == "bytes":
            y = y.clamp(0, 255) / 127.5 - 1
        return y.permute(0, 2, 3, 1)


def _randomize_batchnorm(module, generator):
    """Give BatchNorm layers trained-looking running statistics (fresh ones are 0 and 1)."""
    for layer in module.modules():
        if isinstance(layer, nn.BatchNorm2d):
            layer.running_mean.copy_(torch.randn(layer.num_features, generator=generator) * 0.1)
            layer.running_var.copy_(torch.rand(layer.num_features, generator=generator) + 0.5)


def _calibrate_head(net, head: nn.Conv2d, pixels: str, inputs) -> None:
    """Rescale the last convolution so that, on the golden input, the random network's output spans the
    pixel range it works in the way a trained one does (centre of the range, a quarter of it as spread),
    instead of sitting at one end where the wrapper's clamp would flatten it to a constant."""
    centre, spread = {"unit": (0.5, 0.25), "bytes": (127.5, 64.0)}[pixels]
    with torch.no_grad():
        raw = net(*(torch.from_numpy(x).permute(0, 3, 1, 2) * {"unit": 0.5, "bytes": 127.5}[pixels]
                    + {"unit": 0.5, "bytes": 127.5}[pixels] for x in inputs))
        mean, std = raw.mean(dim=(0, 2, 3)), raw.std(dim=(0, 2, 3))
        scale = spread / std
        head.weight.mul_(scale.reshape(-1, 1, 1, 1))
        head.bias.copy_((head.bias - mean) * scale + centre)


def golden_inputs(n_inputs: int) -> list[np.ndarray]:
    """The seeded [1, 32, 32, 3] float32 images in [-1, 1] whose outputs golden.npz keeps (as float16)."""
    rng = np.random.default_rng(GOLDEN_SEED)
    return [rng.uniform(-1, 1, (1, SIZE, SIZE, 3)).astype(np.float32) for _ in range(n_inputs)]


def _export(model, n_inputs, path: Path, exporter: str) -> dict:
    """Export ``model`` (NHWC) with dynamic batch, height and width; returns what was used."""
    names = ["content", "style"] if n_inputs == 2 else ["image"]
    dummies = tuple(torch.zeros(1, SIZE, SIZE, 3) for _ in range(n_inputs))
    axes = {name: {0: "N", 1: "H", 2: "W"} for name in names + ["out"]}
    with warnings.catch_warnings(), io.StringIO() as quiet:
        warnings.simplefilter("ignore")
        stdout, sys.stdout = sys.stdout, quiet  # the new exporter prints its progress
        try:
            if exporter == "legacy":
                torch.onnx.export(model, dummies, str(path), input_names=names, output_names=["out"],
                                  dynamic_axes=axes, opset_version=17, dynamo=False)
            else:  # the exporter torch.onnx.export picks when ``dynamo`` is not given
                torch.onnx.export(model, dummies, str(path), input_names=names, output_names=["out"],
                                  dynamic_axes=axes, opset_version=17)
        finally:
            sys.stdout = stdout
    _strip_debug_text(path)
    return {"exporter": exporter}


def _strip_debug_text(path: Path) -> None:
    """Drop the per-node source locations and stack traces the new exporter writes (most of a tiny model's
    bytes; no runtime reads them) so the fixtures stay small. Weights and graph are left as exported."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    for node in model.graph.node:
        del node.metadata_props[:]
        node.doc_string = ""
    del model.graph.metadata_props[:]
    model.graph.doc_string = ""
    onnx.save(model, str(path))


# name -> (builder, number of inputs, pixel range, the exports written)
ARCHITECTURES = {
    "junyanz_resnet": (lambda: ResnetGenerator(ngf=2, n_blocks=2), 1, "signed", ("legacy", "default", "fp16")),
    "junyanz_unet": (lambda: UnetGenerator(num_downs=5, ngf=1), 1, "signed", ("legacy", "default")),
    "examples_transformer_net": (lambda: TransformerNet(width=2), 1, "bytes", ("legacy", "default")),
    "naoto0804_adain": (lambda: AdaIN(width=2), 2, "unit", ("legacy", "default")),
    "bryandlee_animeganv2": (lambda: AnimeGANv2(w=2), 1, "signed", ("legacy", "default")),
}


def template_snippet() -> str:
    """The PyTorch snippet of submissions/_template/README.md (the ```python block after its marker)."""
    text = TEMPLATE_README.read_text(encoding="utf-8")
    match = re.search(r"<!-- snippet:torch -->\s*```python\n(.*?)```", text, re.S)
    if not match:
        raise SystemExit("the template README has no <!-- snippet:torch --> block")
    return match.group(1)


def _opsets(path: Path) -> dict:
    import onnx

    return {o.domain or "ai.onnx": o.version for o in onnx.load(str(path), load_external_data=False).opset_import}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help="folder to (re)write")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    torch.use_deterministic_algorithms(True)
    manifest = {"torch": torch.__version__, "golden_seed": GOLDEN_SEED, "size": SIZE, "models": {}}
    goldens = {}
    for name, (build, n_inputs, pixels, exports) in ARCHITECTURES.items():
        torch.manual_seed(0)
        net = build()
        _randomize_batchnorm(net, torch.Generator().manual_seed(1))
        net.eval()
        inputs = golden_inputs(n_inputs)
        if pixels != "signed":  # no tanh head: give the output a trained network's spread
            _calibrate_head(net, [m for m in net.modules() if isinstance(m, nn.Conv2d)][-1], pixels, inputs)
        reference = NHWC(net, pixels).eval()
        with torch.no_grad():
            goldens[name] = reference(*(torch.from_numpy(x) for x in inputs)).numpy()
        for exporter in exports:
            model = reference if exporter != "fp16" else NHWC(_half_copy(build, net), pixels, half=True).eval()
            path = args.out / f"{name}.{exporter}.onnx"
            _export(model, n_inputs, path, "legacy" if exporter == "fp16" else exporter)
            manifest["models"][path.name] = {
                "architecture": name, "exporter": exporter, "inputs": n_inputs, "opsets": _opsets(path),
                "parameters": sum(p.numel() for p in net.parameters()), "golden": name}
    # The template README's snippet, with `my_generator` a small generator of the participant's own.
    snippet = template_snippet()
    for variant, code in (("as_written", snippet), ("default_exporter", snippet.replace(", dynamo=False", ""))):
        if variant == "default_exporter" and code == snippet:
            raise SystemExit("the snippet's `dynamo=False` was not found: update this script")
        torch.manual_seed(0)
        generator = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.InstanceNorm2d(4), nn.ReLU(), nn.Conv2d(4, 3, 3, padding=1))
        workdir = args.out / f"_snippet_{variant}"
        workdir.mkdir(exist_ok=True)
        cwd = Path.cwd()
        try:
            import os

            os.chdir(workdir)
            scope = {"my_generator": generator}
            with warnings.catch_warnings(), io.StringIO() as quiet:
                warnings.simplefilter("ignore")
                stdout, sys.stdout = sys.stdout, quiet
                try:
                    exec(compile(code, "README.md:torch", "exec"), scope)
                finally:
                    sys.stdout = stdout
        finally:
            os.chdir(cwd)
        # The default exporter keeps the weights in model.onnx.data next to model.onnx: the folder is the model.
        final = args.out / f"template_snippet.{variant}"
        if final.exists():
            for leftover in final.iterdir():
                leftover.unlink()
            final.rmdir()
        workdir.rename(final)
        path = final / "model.onnx"
        with torch.no_grad():
            goldens["template_snippet"] = scope["model"](torch.from_numpy(golden_inputs(1)[0])).numpy()
        manifest["models"][str(path.relative_to(args.out))] = {
            "architecture": "template_snippet", "exporter": variant, "inputs": 1, "opsets": _opsets(path),
            "parameters": sum(p.numel() for p in generator.parameters()), "golden": "template_snippet"}
    manifest["template_snippet_sha256"] = hashlib.sha256(snippet.encode()).hexdigest()
    np.savez_compressed(args.out / "golden.npz", **{k: v.astype(np.float16) for k, v in goldens.items()})
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    total = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    print(f"wrote {len(manifest['models'])} models to {args.out} ({total / 1024:.0f} kB in all)")
    for file, entry in sorted(manifest["models"].items()):
        print(f"  {file}: opsets {entry['opsets']}, {(args.out / file).stat().st_size / 1024:.1f} kB")
    return 0


def _half_copy(build, net):
    """A copy of ``net`` with the same weights, in float16 (what ``model.half()`` gives a participant)."""
    copy = build()
    copy.load_state_dict(net.state_dict())
    return copy.half().eval()


if __name__ == "__main__":
    sys.exit(main())
