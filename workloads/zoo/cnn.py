"""Convolutional models: CaMDN's CNNs and MoCA's seven networks.

Shapes follow torchvision (ResNet-50, MobileNetV2, EfficientNet-B0) and the
original papers; MoCA's networks are transcribed from the layer calls of its
artifact (`shared/reference/gemmini_moca/<net>.csv`, "as executed"): where
that code reads a window of a tensor or executes a shape that differs from the
textbook network, the trace does the same, so simulated and measured layers
line up row by row. Batch norm, ReLU/Swish and biases fuse into the
producing layer and are not separate layers. Layer blocks (`block`) mark the
consecutive layers whose intermediate maps CaMDN may keep on chip: one
residual/inverted-residual block each.
"""

from __future__ import annotations

from ..builder import Tensor, TraceBuilder
from ..trace import Trace
from . import ParameterError, Published, model


# -- ResNet-50 ---------------------------------------------------------------------

def _bottleneck(b: TraceBuilder, x: Tensor, names: list[str], width: int, out_c: int, stride: int,
                down: str | None, add: str, block: str) -> Tensor:
    b.block(block)
    y = b.conv(names[0], x, width, 1)
    y = b.conv(names[1], y, width, 3, stride=stride, padding=1)
    y = b.conv(names[2], y, out_c, 1)
    s = b.conv(down, x, out_c, 1, stride=stride) if down else x
    out = b.eltwise(add, [y, s])
    b.block("")
    return out


@model("resnet50", family="cnn",
       description="ResNet-50 v1.5 (torchvision); variant='moca' is the MoCA artifact's (fc 2048->1024, no avg pool)",
       published=Published(macs=4.09e9, params=25.557e6,
                           source="torchvision ResNet50_Weights.IMAGENET1K_V1: 4.09 GFLOPS (multiply-adds), 25.6 M params"))
def resnet50(batch: int = 1, image_size: int = 224, variant: str = "torchvision") -> Trace:
    if variant not in ("torchvision", "moca"):
        raise ParameterError("variant", f"must be 'torchvision' or 'moca', got {variant!r}")
    moca = variant == "moca"
    b = TraceBuilder("resnet50" if not moca else "resnet50_moca", batch=batch)
    x = b.input(3, image_size, image_size)
    x = b.conv("conv_1" if moca else "conv1", x, 64, 7, stride=2, padding=3)
    x = b.pool("conv_1_pool" if moca else "maxpool", x, 3, stride=2, padding=1)
    conv_i, add_i = 2, 1
    stages = ((64, 256, 3, 1), (128, 512, 4, 2), (256, 1024, 6, 2), (512, 2048, 3, 2))
    for si, (width, out_c, blocks, stride) in enumerate(stages, start=1):
        for bi in range(blocks):
            s = stride if bi == 0 else 1
            if moca:
                names = [f"conv_{conv_i + k}" for k in range(3)]
                down = f"conv_{conv_i + 3}" if bi == 0 else None
                conv_i += 4 if bi == 0 else 3
                add = f"resadd_{add_i}"
                add_i += 1
            else:
                p = f"layer{si}.{bi}"
                names = [f"{p}.conv1", f"{p}.conv2", f"{p}.conv3"]
                down = f"{p}.downsample" if bi == 0 else None
                add = f"{p}.add"
            x = _bottleneck(b, x, names, width, out_c, s, down, add, f"layer{si}.{bi}")
    if moca:
        b.gemm("fc_54", x, 1024, rows=batch)  # reads the 2048 first features, as the benchmark does
    else:
        x = b.global_pool("avgpool", x)
        b.gemm("fc", x, 1000)
    return b.build()


# -- MobileNetV2 and EfficientNet-B0 ------------------------------------------------------

def _inverted_residual(b: TraceBuilder, x: Tensor, name: str, expand: int, kernel: int, stride: int, out_c: int,
                       squeeze_excite: bool = False) -> Tensor:
    """One inverted-residual block (one CaMDN layer block): 1x1 expansion unless
    `expand` is 1, depthwise kernel x kernel, optional squeeze-excitation, 1x1
    projection, and the residual add when shapes allow."""
    b.block(name)
    y = x
    if expand != 1:
        y = b.conv(f"{name}.expand", y, x.c * expand, 1)
    y = b.dwconv(f"{name}.dw", y, kernel, stride=stride, padding=kernel // 2)
    if squeeze_excite:  # global pool, two FCs, and the channel scaling of the map
        p = b.global_pool(f"{name}.se.pool", y)
        f = b.gemm(f"{name}.se.fc1", p, max(1, x.c // 4))
        b.gemm(f"{name}.se.fc2", f, y.c)
        y = b.eltwise(f"{name}.se.scale", [y])  # scales y by the FC's per-channel factors
    y = b.conv(f"{name}.project", y, out_c, 1)
    if stride == 1 and x.c == out_c:
        y = b.eltwise(f"{name}.add", [y, x])
    b.block("")
    return y


@model("mobilenet_v2", family="cnn", description="MobileNetV2 1.0 (torchvision)",
       published=Published(macs=0.30e9, params=3.504872e6,
                           source="torchvision MobileNet_V2_Weights.IMAGENET1K_V1: 0.30 GFLOPS, 3.5 M params"))
def mobilenet_v2(batch: int = 1, image_size: int = 224) -> Trace:
    b = TraceBuilder("mobilenet_v2", batch=batch)
    x = b.input(3, image_size, image_size)
    x = b.conv("features.0", x, 32, 3, stride=2, padding=1)
    settings = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                (6, 320, 1, 1))
    idx = 1
    for t, c, n, s in settings:
        for i in range(n):
            stride = s if i == 0 else 1
            x = _inverted_residual(b, x, f"features.{idx}", t, 3, stride, c)
            idx += 1
    x = b.conv("features.18", x, 1280, 1)
    x = b.global_pool("avgpool", x)
    b.gemm("classifier", x, 1000)
    return b.build()


@model("efficientnet_b0", family="cnn", description="EfficientNet-B0 (torchvision), squeeze-excitation included",
       published=Published(macs=0.39e9, params=5.288548e6,
                           source="torchvision EfficientNet_B0_Weights.IMAGENET1K_V1: 0.39 GFLOPS, 5.3 M params"))
def efficientnet_b0(batch: int = 1, image_size: int = 224) -> Trace:
    b = TraceBuilder("efficientnet_b0", batch=batch)
    x = b.input(3, image_size, image_size)
    x = b.conv("features.0", x, 32, 3, stride=2, padding=1)
    settings = ((1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3), (6, 5, 1, 112, 3),
                (6, 5, 2, 192, 4), (6, 3, 1, 320, 1))
    for si, (t, k, s, c, n) in enumerate(settings, start=1):
        for i in range(n):
            stride = s if i == 0 else 1
            x = _inverted_residual(b, x, f"features.{si}.{i}", t, k, stride, c, squeeze_excite=True)
    x = b.conv("features.8", x, 1280, 1)
    x = b.global_pool("avgpool", x)
    b.gemm("classifier", x, 1000)
    return b.build()


# -- MoCA's networks (as executed by the artifact) ------------------------------------------

@model("alexnet", family="cnn", description="AlexNet as MoCA's artifact runs it (torchvision shapes, fc_8 4096->1024)",
       published=Published(macs=0.71e9, params=61.1e6,
                           source="torchvision AlexNet_Weights.IMAGENET1K_V1: 0.71 GFLOPS, 61.1 M params",
                           note="MoCA's last FC has 1024 outputs instead of 1000 (+0.1 M params)"))
def alexnet(batch: int = 1) -> Trace:
    b = TraceBuilder("alexnet", batch=batch)
    x = b.input(3, 224, 224)
    x = b.conv("conv_1", x, 64, 11, stride=4, padding=2)
    x = b.pool("conv_1_pool", x, 3, stride=2)
    x = b.conv("conv_2", x, 192, 5, padding=2)
    x = b.pool("conv_2_pool", x, 3, stride=2)
    x = b.conv("conv_3", x, 384, 3, padding=1)
    x = b.conv("conv_4", x, 256, 3, padding=1)
    c5 = b.conv("conv_5", x, 256, 3, padding=1)
    x = b.pool("conv_5_pool", c5, 3, stride=2)
    b.global_pool("global_avg_pool", c5)  # runs on conv_5's 13x13 map, its result unused (as executed)
    f = b.gemm("fc_6", Tensor(x.producer, x.c * x.h * x.w), 4096, rows=batch)
    f = b.gemm("fc_7", f, 4096, rows=batch)
    b.gemm("fc_8", f, 1024, rows=batch)
    return b.build()


@model("squeezenet", family="cnn", description="SqueezeNet 1.1 as MoCA's artifact runs it (no final pool)",
       published=Published(macs=0.35e9, params=1.235496e6,
                           source="torchvision SqueezeNet1_1_Weights.IMAGENET1K_V1: 0.35 GFLOPS, 1.2 M params"))
def squeezenet(batch: int = 1) -> Trace:
    b = TraceBuilder("squeezenet", batch=batch)
    x = b.input(3, 224, 224)
    x = b.conv("conv_1", x, 64, 3, stride=2)
    x = b.pool("conv_1_pool", x, 3, stride=2)
    cur: list[Tensor] = [x]
    n = 2
    fires = ((16, 64, False), (16, 64, True), (32, 128, False), (32, 128, True), (48, 192, False),
             (48, 192, False), (64, 256, False), (64, 256, False))
    for squeeze, expand, pooled in fires:
        b.block(f"fire_{n}")
        s = b.conv(f"conv_{n}", cur, squeeze, 1)
        e1 = b.conv(f"conv_{n + 1}", s, expand, 1)
        e3 = b.conv(f"conv_{n + 2}", s, expand, 3, padding=1)
        b.block("")
        if pooled:  # the artifact fuses a 3x3/2 max pool into both expand convs
            e1 = b.pool(f"conv_{n + 1}_pool", e1, 3, stride=2)
            e3 = b.pool(f"conv_{n + 2}_pool", e3, 3, stride=2)
        cur = [e1, e3]
        n += 3
    b.conv("conv_26", cur, 1000, 1)
    return b.build()


def _inception(b: TraceBuilder, x: list[Tensor], n: dict[str, str], c1: int, r3: int, c3: int, r5: int, c5: int,
               pp: int, order: str = "branches") -> list[Tensor]:
    """One Inception module in the artifact's call order; returns its concatenated outputs.

    `order`: ``branches`` = 1x1, 3x3 pair, "5x5" pair, then pool and its
    projection (the textbook order); ``pool_first`` = pool and projection,
    then the branches; ``pool_early`` = pool, the branches, then the
    projection. The measured binary uses all three (see the reference CSV).
    """
    if order not in ("branches", "pool_first", "pool_early"):
        raise ValueError(f"unknown inception order {order!r}")
    p = pj = None
    if order != "branches":
        p = b.pool(n["pool"], x, 3, stride=1, padding=1)
    if order == "pool_first":
        pj = b.conv(n["proj"], p, pp, 1)
    a = b.conv(n["1x1"], x, c1, 1)
    r = b.conv(n["r3"], x, r3, 1)
    t = b.conv(n["3x3"], r, c3, 3, padding=1)
    r = b.conv(n["r5"], x, r5, 1)
    f = b.conv(n["5x5"], r, c5, 3, padding=1)  # torchvision's "5x5" branch is a 3x3 conv
    if p is None:
        p = b.pool(n["pool"], x, 3, stride=1, padding=1)
    if pj is None:
        pj = b.conv(n["proj"], p, pp, 1)
    return [a, t, f, pj]


def _names(*names: str) -> dict[str, str]:
    return dict(zip(("1x1", "r3", "3x3", "r5", "5x5", "pool", "proj"), names))


@model("googlenet", family="cnn", description="GoogLeNet (Inception v1) as MoCA's artifact runs it",
       published=Published(macs=1.50e9, params=6.624904e6,
                           source="torchvision GoogLeNet_Weights.IMAGENET1K_V1: 1.50 GFLOPS, 6.6 M params",
                           note="the artifact skips the max pool after conv_3 (its conv_4 reads a 28x28 window)"))
def googlenet(batch: int = 1) -> Trace:
    b = TraceBuilder("googlenet", batch=batch)
    x = b.input(3, 224, 224)
    x = b.conv("conv_1", x, 64, 7, stride=2, padding=3)
    x = b.pool("conv_1_pool", x, 3, stride=2, out_hw=(56, 56))  # fused into conv_1, ceil mode
    x = b.conv("conv_2", x, 64, 1)
    x = b.conv("conv_3", x, 192, 3, padding=1)
    x = Tensor(x.producer, x.c, 28, 28)  # the pool that should follow did not run: a 28x28 window is read
    y = _inception(b, [x], _names("conv_4", "conv_5", "conv_6", "conv_7", "conv_8", "pool_9", "conv_10"),
                   64, 96, 128, 16, 32, 32)
    y = _inception(b, y, _names("conv_11", "conv_12", "conv_13", "conv_14", "conv_15", "pool_16", "conv_17"),
                   128, 128, 192, 32, 96, 64)
    y = [b.pool("pool_18", y, 3, stride=2, out_hw=(14, 14))]
    y = _inception(b, y, _names("conv_19", "conv_20", "conv_21", "conv_22", "conv_23", "pool_24", "conv_25"),
                   192, 96, 208, 16, 48, 64)
    y = _inception(b, y, _names("conv_26", "conv_27", "conv_28", "conv_29", "conv_30", "pool_31", "conv_32"),
                   160, 112, 224, 24, 64, 64)
    y = _inception(b, y, _names("conv_33", "conv_34", "conv_35", "conv_36", "conv_37", "pool_38", "conv_39"),
                   128, 128, 256, 24, 64, 64)
    y = _inception(b, y, _names("conv_40", "conv_41", "conv_42", "conv_43", "conv_44", "pool_45", "conv_46"),
                   112, 144, 288, 32, 64, 64)
    y = _inception(b, y, _names("conv_47", "conv_48", "conv_49", "conv_50", "conv_51", "pool_52", "conv_53"),
                   256, 160, 320, 32, 128, 128, order="pool_early")
    y = [b.pool("pool_54", y, 2, stride=2)]
    y = _inception(b, y, _names("conv_55", "conv_56", "conv_57", "conv_58", "conv_59", "pool_60", "conv_61"),
                   256, 160, 320, 32, 128, 128, order="pool_first")
    y = _inception(b, y, _names("conv_62", "conv_63", "conv_64", "conv_65", "conv_66", "pool_67", "conv_68"),
                   384, 192, 384, 48, 128, 128, order="pool_early")
    # the artifact's classifier: 1024 features (the first of the last map), 1000 classes
    b.gemm("fc_69", Tensor(y[0].producer, 1024), 1000, rows=batch)
    return b.build()


@model("yolov2", family="cnn",
       description="Darknet-19 backbone of YOLOv2 at 224x224 without detection head (MoCA's 'yolonet')",
       published=Published(macs=2.79e9, source="Redmon & Farhadi, YOLO9000 (CVPR 2017): Darknet-19 5.58 "
                                              "billion operations (= 2.79 GMACs) at 224x224",
                           note="our last layer is MoCA's 1x1 1024->1024 instead of 1024->1000"))
def yolov2(batch: int = 1) -> Trace:
    b = TraceBuilder("yolov2", batch=batch)
    x = b.input(3, 224, 224)
    cfg = [(32, 3), "P", (64, 3), "P", (128, 3), (64, 1), (128, 3), "P", (256, 3), (128, 1), (256, 3), "P",
           (512, 3), (256, 1), (512, 3), (256, 1), (512, 3), "P", (1024, 3), (512, 1), (1024, 3), (512, 1),
           (1024, 3), (1024, 1)]
    i = 0
    for item in cfg:
        if item == "P":
            x = b.pool(f"conv_{i}_pool", x, 2, stride=2)
            continue
        i += 1
        c, k = item
        x = b.conv(f"conv_{i}", x, c, k, padding=k // 2)
    return b.build()


@model("yolo_lite", family="cnn", description="YOLO-LITE backbone at 224x224 (MoCA's 'yololitenet')",
       published=Published(macs=0.241e9, source="Pedoeem & Huang, YOLO-LITE (2018): 482 million FLOPS "
                                                "(= 241 M MACs) for the 224x224 network"))
def yolo_lite(batch: int = 1) -> Trace:
    b = TraceBuilder("yolo_lite", batch=batch)
    x = b.input(3, 224, 224)
    for i, c in enumerate((16, 32, 64, 128, 128), start=1):
        x = b.conv(f"conv_{i}", x, c, 3, padding=1)
        x = b.pool(f"conv_{i}_pool", x, 2, stride=2)
    x = b.conv("conv_6", x, 256, 3, padding=1)
    b.conv("conv_7", x, 128, 1)
    return b.build()


@model("kws", family="cnn",
       description="MoCA's keyword-spotting residual CNN (25 3x3 convs of 45 channels on 96x96x3, 11 residual adds)",
       published=Published(source="MoCA artifact kwsnet; no published totals", note="shapes as executed"))
def kws(batch: int = 1) -> Trace:
    b = TraceBuilder("kws", batch=batch)
    x = b.input(3, 96, 96)
    res = b.conv("conv_1", x, 45, 3, padding=1)
    # the pool after conv_1 is commented out in the artifact: conv_2 reads a 48x48 window
    x = Tensor(res.producer, 45, 48, 48)
    n = 2
    for k in range(1, 12):
        b.block(f"res_{k}")
        y = b.conv(f"conv_{n}", x, 45, 3, padding=1)
        y = b.conv(f"conv_{n + 1}", y, 45, 3, padding=1)
        b.block("")
        # executed as 9216 x 45 (96x96), although the maps are 48x48
        x = b.eltwise(f"resadd_{k}", [y, x], shape=(45, 96, 96))
        x = Tensor(x.producer, 45, 48, 48)
        n += 2
    y = b.conv(f"conv_{n}", x, 45, 3, padding=1)
    b.conv(f"conv_{n + 1}", y, 45, 3, padding=1)
    return b.build()


@model("pointpillars", family="cnn",
       description="PointPillars (KITTI car): pillar feature net, 3-block 2D backbone, upsampling, SSD head",
       published=Published(source="Lang et al., PointPillars (CVPR 2019); no MAC/parameter totals published",
                           note="12000 pillars x 100 points, 432x496 pseudo-image, 2 anchors"))
def pointpillars(batch: int = 1, pillars: int = 12000, points: int = 100) -> Trace:
    b = TraceBuilder("pointpillars", batch=batch)
    pts = b.input(9, pillars * points, 1)
    f = b.gemm("pfn.linear", pts, 64, rows=batch * pillars * points)
    f = b.pool("pfn.max", Tensor(f.producer, 64, pillars, points), (1, points), stride=1,
               out_hw=(pillars, 1))  # max over each pillar's points
    # scattered into the 432 x 496 pseudo-image (a data movement, not a layer)
    x = Tensor(f.producer, 64, 496, 432)
    outs = []
    for bi, (c, n, stride) in enumerate(((64, 4, 2), (128, 6, 2), (256, 6, 2)), start=1):
        b.block(f"block{bi}")
        for i in range(n):
            x = b.conv(f"block{bi}.conv{i}", x, c, 3, stride=stride if i == 0 else 1, padding=1)
        b.block("")
        outs.append(x)
    ups = []
    for i, (x, k) in enumerate(zip(outs, (1, 2, 4)), start=1):
        # a transposed conv with kernel = stride: one GEMM per input pixel
        u = b.conv(f"up{i}.deconv", x, 128 * k * k, 1)
        ups.append(Tensor(u.producer, 128, 248, 216))
    head = ups
    b.conv("head.cls", head, 2, 1)
    b.conv("head.box", head, 14, 1)
    b.conv("head.dir", head, 4, 1)
    return b.build()
