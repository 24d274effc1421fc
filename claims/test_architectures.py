"""Architectures, counted: AlexNet from its layer table, small-kernel factorisations (VGG, Inception,
depthwise-separable), GPT-2/GPT-3 sizes.  Builders live in harness/arch_lib.py; networks that are only
counted are built on the meta device, so no parameter memory is allocated."""

from __future__ import annotations

import pytest
from torch import nn

from harness.evidence import assert_supported
from harness.lab import architectures as lab
from harness.lab import models

ALEXNET_INPUT = (1, 3, 227, 227)
VGG_INPUT = (1, 3, 224, 224)

# -- alexnet-counts-from-its-layer-table --------------------------------------------------------


@pytest.mark.claim("alexnet-counts-from-its-layer-table")
def test_alexnet_layers_parameters_and_pooling(evidence):
    alex, vgg = lab.on_meta(lab.alexnet), lab.on_meta(lab.vgg16)
    layers = {"AlexNet": lab.learned_layers(alex), "VGG-16": lab.learned_layers(vgg)}
    params = {
        "AlexNet": models.count_params(alex),
        "VGG-16": models.count_params(vgg),
        "AlexNet, one GPU (no groups)": models.count_params(lab.on_meta(lab.alexnet, two_gpu=False)),
    }
    for name, n in layers.items():
        evidence.record(f"learned layers of {name}: convolutional, fully connected", [n["conv"], n["fc"]], unit="layers", per="setting")
    for name, n in params.items():
        evidence.record(f"parameters of {name}", [n], unit="parameters", per="setting")
    off = {k: abs(v["conv"] - 5) + abs(v["fc"] - 3) for k, v in layers.items()}
    evidence.bound("five-conv-three-fc", [off["AlexNet"]], [off["VGG-16"]], names=("AlexNet", "VGG-16"))
    dev = {k: abs(v / 60e6 - 1) for k, v in params.items()}
    evidence.bound("about-60-million-parameters", [dev["AlexNet"]], [dev["VGG-16"]], names=("AlexNet", "VGG-16"))

    pool = next(m for m in alex if isinstance(m, nn.MaxPool2d))
    overlapping = lab.pooling_overlap(nn.MaxPool2d(pool.kernel_size, pool.stride))  # a real copy: the build is on meta
    plain = lab.pooling_overlap(nn.MaxPool2d(2, 2))
    evidence.record(
        f"inputs shared by adjacent pooling windows (rows, columns), z = {pool.kernel_size}, s = {pool.stride}",
        list(overlapping),
        unit="pixels",
        per="setting",
    )
    evidence.record("inputs shared by adjacent pooling windows (rows, columns), z = s = 2", list(plain), unit="pixels", per="setting")
    evidence.bound("pooling-windows-overlap", list(overlapping), list(plain), names=("z = 3, s = 2", "z = s = 2"))

    shapes = lab.layer_outputs(alex, ALEXNET_INPUT)
    learned = [s for (n, s) in shapes if n in ("Conv2d", "Linear")]
    pooled = {
        z: [s for (n, s) in lab.layer_outputs(lab.on_meta(lab.alexnet, pool=(z, 2)), ALEXNET_INPUT) if n == "MaxPool2d"] for z in (3, 2)
    }
    relus = sum(isinstance(m, nn.ReLU) for m in alex)
    units = lab.neurons(alex, ALEXNET_INPUT)
    evidence.record("output shape of each learned layer (channels, height, width)", [list(s[1:]) for s in learned], unit="", per="setting")
    evidence.note(
        f"AlexNet as built: {layers['AlexNet']['conv']} convolutional + {layers['AlexNet']['fc']} fully connected layers, "
        f"{params['AlexNet']:,} parameters ({params['AlexNet'] / 1e6:.1f} million; {params['AlexNet, one GPU (no groups)']:,} "
        f"without the two-GPU grouping), {relus} ReLUs (after every learned layer but the last), {units:,} neurons "
        f"(paper: 60 million parameters and 650,000 neurons). Feature maps: "
        + ", ".join("x".join(map(str, s[1:])) for s in learned[:5])
        + f"; the first fully connected layer reads 256 x 6 x 6 = {256 * 36:,} inputs. Pooling outputs with z = 3, s = 2: "
        f"{[s[2] for s in pooled[3]]} pixels wide; with z = s = 2: {[s[2] for s in pooled[2]]} - the 'equivalent dimensions' "
        f"of Sec. 3.4, so overlap changes what each output sees, not the sizes. VGG-16 for comparison: {params['VGG-16']:,} "
        "parameters in 13 + 3 layers."
    )
    evidence.plot(
        "parameters per learned layer of AlexNet (millions)",
        list(range(1, 9)),
        {"AlexNet": [sum(p.numel() for p in m.parameters()) / 1e6 for m in alex if isinstance(m, (nn.Conv2d, nn.Linear))]},
        xlabel="learned layer (1-5 convolutional, 6-8 fully connected)",
        ylabel="parameters (millions)",
        kind="bar",
    )
    assert_supported(evidence)


# -- small-kernel-stacks-save-parameters ---------------------------------------------------------

CHANNELS, SIDE = 128, 28
CASES = ("two-3x3-vs-5x5", "three-3x3-vs-7x7", "3x1-1x3-vs-3x3", "7x1-1x7-vs-7x7", "depthwise-separable-3x3")
PAPER_RATIO = {
    "two-3x3-vs-5x5": 18 / 25,
    "three-3x3-vs-7x7": 27 / 49,
    "3x1-1x3-vs-3x3": 6 / 9,
    "7x1-1x7-vs-7x7": 14 / 49,
    "depthwise-separable-3x3": 1 / CHANNELS + 1 / 9,
}  # the papers' C^2 arithmetic (depthwise: 9C + C^2 over 9C^2)


def costs(case: str) -> dict:
    """Parameter and FLOP counts (meta device) and measured receptive fields of one factorisation."""
    small, large = lab.FACTORISATIONS[case]
    out = {}
    for name, specs in (("stack", small), ("single", large)):
        out[name] = {
            "params": models.count_params(lab.on_meta(lab.conv_stack, specs, CHANNELS)),
            "flops": lab.conv_flops(lab.on_meta(lab.conv_stack, specs, CHANNELS), (1, CHANNELS, SIDE, SIDE)),
            "rf": lab.receptive_field(lab.conv_stack(specs, 2), 2),
        }
    out["pooled rf"] = lab.receptive_field(lab.conv_stack(small, 2, pool_between=True), 2)
    return out


@pytest.mark.claim("small-kernel-stacks-save-parameters")
@pytest.mark.parametrize("case", CASES)
def test_factorised_convolutions_keep_field_and_cut_cost(case, evidence):
    c, ctrl = costs(case), costs("two-2x2-vs-3x3")
    rf_gap = sum(abs(a - b) for a, b in zip(c["stack"]["rf"], c["single"]["rf"]))
    pooled_gap = sum(abs(a - b) for a, b in zip(c["pooled rf"], c["single"]["rf"]))
    ratio = {k: c["stack"][k] / c["single"][k] for k in ("params", "flops")}
    ctrl_ratio = {k: ctrl["stack"][k] / ctrl["single"][k] for k in ("params", "flops")}
    setting = {"channels": CHANNELS, "input": [CHANNELS, SIDE, SIDE]}
    for k in ("params", "flops"):
        evidence.record(
            f"{k}: factorised stack, single convolution", [c["stack"][k], c["single"][k]], unit=k, per="setting", setting=setting
        )
    evidence.record(
        "receptive field (height, width): stack, single, stack with pooling between",
        [list(c["stack"]["rf"]), list(c["single"]["rf"]), list(c["pooled rf"])],
        unit="pixels",
        per="setting",
    )
    evidence.bound("same-receptive-field", [rf_gap], [pooled_gap], names=("stack", "stack with pooling between"))
    evidence.bound("fewer-parameters", [ratio["params"]], [ctrl_ratio["params"]], names=(case, "two 2x2 for a 3x3"))
    evidence.bound("fewer-flops", [ratio["flops"]], [ctrl_ratio["flops"]], names=(case, "two 2x2 for a 3x3"))
    evidence.note(
        f"{case}: parameters x{ratio['params']:.3f}, FLOPs x{ratio['flops']:.3f} (the papers' arithmetic: "
        f"{PAPER_RATIO[case]:.3f}; a {1 - ratio['params']:.0%} saving), receptive field {c['stack']['rf']} as for the single "
        f"convolution {c['single']['rf']}; with 2x2 pooling between the layers it becomes {c['pooled rf']}. The control, "
        f"two 2x2 convolutions for a 3x3, saves only {1 - ctrl_ratio['params']:.0%}."
    )
    evidence.plot(
        f"{case}: cost of the stack relative to the single convolution",
        [1, 2, 3],
        {"ratio": [ratio["params"], ratio["flops"], PAPER_RATIO[case]]},
        xlabel="1: parameters (measured); 2: FLOPs (measured); 3: the papers' arithmetic",
        ylabel="stack / single",
        kind="bar",
    )
    assert_supported(evidence)


# -- gpt-sizes-from-their-configurations --------------------------------------------------------


def build_and_count(name: str) -> dict:
    """Build one GPT configuration on the meta device: parameters, blocks, closed form, memory growth."""
    cfg = lab.GPT_CONFIGS[name]
    before = lab.resident_bytes()
    model = lab.on_meta(lab.GPT, cfg)
    grown = lab.resident_bytes() - before
    return {
        "params": models.count_params(model),
        "blocks": len(model.blocks),
        "formula": lab.gpt_params_formula(cfg),
        "grown_mb": grown / 2**20,
        "fp32_gb": models.count_params(model) * 4 / 2**30,
        "on_meta": all(p.is_meta for p in model.parameters()),
    }


@pytest.mark.claim("gpt-sizes-from-their-configurations")
def test_gpt_parameter_counts_on_meta_device(evidence):
    counts = {name: build_and_count(name) for name in lab.GPT_CONFIGS}
    for name, c in counts.items():
        cfg = lab.GPT_CONFIGS[name]
        evidence.record(
            f"parameters of {name}",
            [c["params"]],
            unit="parameters",
            per="setting",
            setting={"n_layer": cfg.n_layer, "d_model": cfg.d_model, "n_head": cfg.n_head, "vocab": cfg.vocab, "context": cfg.context},
        )
    dev = {
        name: abs(c["params"] / target - 1)
        for name, c, target in [(n, counts[n], 1.5e9) for n in ("GPT-2 XL", "GPT-2 large")]
        + [(n, counts[n], 175e9) for n in ("GPT-3 175B", "GPT-3 175B width, 48 layers")]
    }
    evidence.bound("gpt2-xl-about-1-5-billion", [dev["GPT-2 XL"]], [dev["GPT-2 large"]], names=("GPT-2 XL", "GPT-2 large"))
    evidence.bound(
        "gpt3-96-layers-give-175-billion",
        [dev["GPT-3 175B"]],
        [dev["GPT-3 175B width, 48 layers"]],
        names=("GPT-3 175B (96 layers)", "same width, 48 layers"),
    )
    evidence.record(
        "resident memory grown while building each configuration",
        [c["grown_mb"] for c in counts.values()],
        unit="MiB",
        per="setting",
        setting={"configs": list(counts)},
    )
    g2, g3 = counts["GPT-2 XL"], counts["GPT-3 175B"]
    evidence.note(
        f"GPT-2 XL: {g2['params']:,} parameters ({g2['params'] / 1e9:.3f} billion; the GPT-2 paper lists 1542M) in "
        f"{g2['blocks']} blocks; GPT-3 175B: {g3['params']:,} ({g3['params'] / 1e9:.1f} billion; Brown et al.: 175.0B) in "
        f"{g3['blocks']} blocks. Module counts equal the closed form L(12d^2 + 13d) + (vocab + context)d + 2d: "
        f"{all(c['params'] == c['formula'] for c in counts.values())}. Every parameter is on the meta device "
        f"({all(c['on_meta'] for c in counts.values())}); building GPT-3, whose float32 weights would take "
        f"{g3['fp32_gb']:,.0f} GiB, grew this process's resident memory by {g3['grown_mb']:.1f} MiB."
    )
    evidence.plot(
        "parameters per configuration (billions)",
        list(range(1, len(counts) + 1)),
        {"parameters (billions)": [c["params"] / 1e9 for c in counts.values()]},
        xlabel="; ".join(f"{i}: {n} ({lab.GPT_CONFIGS[n].n_layer} layers)" for i, n in enumerate(counts, 1)),
        ylabel="billions of parameters",
        log_y=True,
        kind="bar",
    )
    assert_supported(evidence)
