"""A zoo of real CNN architectures for the end-to-end tests (issue 22, deliverable 8).

torchvision's wheel for the pinned torch does not load here (its compiled ops need libtorch_cuda), so the
blocks are written in this module, following the architectures as torchvision (and the CIFAR papers) define
them, at one input channel, a small input and reduced widths / depths so the tests stay fast:

- ``ResNet18``: stem conv 7x7/2 + BN + ReLU + MaxPool(3, 2, 1), four stages of two BasicBlocks, 1x1 conv + BN
  downsampling shortcuts, adaptive average pool, linear.
- ``ResNet20``: the CIFAR ResNet (conv 3x3 stem, three stages of three BasicBlocks, option-B shortcuts).
- ``MobileNetV1``: depthwise separable convolutions (depthwise 3x3 + BN + ReLU, pointwise 1x1 + BN + ReLU).
- ``MobileNetV2``: inverted residuals (expand 1x1 + BN + ReLU6, depthwise 3x3 + BN + ReLU6, linear 1x1
  projection + BN) with residual adds on the linear stream, a 1x1 head conv, adaptive average pool, dropout.
- ``SqueezeNet11``: SqueezeNet 1.1 (Fire modules: squeeze 1x1, expand 1x1 and 3x3 concatenated;
  MaxPool(3, 2, ceil_mode=True); conv classifier + ReLU + adaptive average pool).
- ``DenseNet``: DenseNet-121-style (stem conv 7x7/2 + BN + ReLU + MaxPool(3, 2, 1); pre-activation dense
  layers BN-ReLU-conv1x1-BN-ReLU-conv3x3 concatenated onto their input; transitions BN-ReLU-conv1x1-AvgPool).
- ``DenseNetBC``: the CIFAR DenseNet-BC (conv 3x3 stem, bottleneck layers, compression 0.5).
- ``GoogLeNet``: conv-BN-ReLU stem, MaxPool(3, 2, ceil_mode=True), Inception blocks (1x1 / 1x1-3x3 /
  1x1-3x3 / MaxPool(3, 1, 1, ceil_mode=True)-1x1 branches concatenated), adaptive average pool, dropout, fc.

``build(name)`` returns a model in eval mode with seeded random weights and randomised BatchNorm statistics
and affine parameters (so no BatchNorm is the identity), and the input shape it is meant for.
"""

from __future__ import annotations

import torch
from torch import nn


def conv_bn(cin: int, cout: int, k: int, stride: int = 1, padding: int | None = None, groups: int = 1,
            act: type[nn.Module] | None = nn.ReLU) -> nn.Sequential:
    """conv (no bias) + BN (+ activation)."""
    layers = [nn.Conv2d(cin, cout, k, stride, k // 2 if padding is None else padding, groups=groups, bias=False),
              nn.BatchNorm2d(cout)]
    if act is not None:
        layers.append(act())
    return nn.Sequential(*layers)


# ---------------------------------------------------------------- ResNets

class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout)
        self.relu = nn.ReLU()
        self.conv2, self.bn2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNet18(nn.Module):
    def __init__(self, width: int = 4, classes: int = 10, in_ch: int = 1):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(in_ch, width, 7, 2, 3, bias=False), nn.BatchNorm2d(width)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        widths = [width, 2 * width, 4 * width, 8 * width]
        cin, stages = width, []
        for i, w in enumerate(widths):
            stages.append(nn.Sequential(BasicBlock(cin, w, 1 if i == 0 else 2), BasicBlock(w, w)))
            cin = w
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(cin, classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


class ResNet20(nn.Module):
    """He et al.'s CIFAR ResNet-20 (3 stages x 3 blocks), with 1x1 conv + BN shortcuts where the shape changes."""

    def __init__(self, width: int = 4, blocks: int = 3, classes: int = 10, in_ch: int = 1):
        super().__init__()
        self.stem = conv_bn(in_ch, width, 3)
        cin, stages = width, []
        for i, w in enumerate([width, 2 * width, 4 * width]):
            stages.append(nn.Sequential(*[BasicBlock(cin if j == 0 else w, w, 2 if i and j == 0 else 1)
                                          for j in range(blocks)]))
            cin = w
        self.layers = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, classes)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.layers(self.stem(x))), 1))


# ---------------------------------------------------------------- MobileNets

class MobileNetV1(nn.Module):
    """Depthwise separable stack; ``cfg`` is (output channels, stride) of each separable block."""

    def __init__(self, width: int = 4, cfg=((2, 1), (4, 2), (4, 1), (8, 2)), classes: int = 10, in_ch: int = 1,
                 stem_stride: int = 1):
        super().__init__()
        layers, c = [conv_bn(in_ch, width, 3, stem_stride)], width
        for mult, s in cfg:
            layers += [conv_bn(c, c, 3, s, groups=c), conv_bn(c, width * mult, 1)]
            c = width * mult
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c, classes)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.features(x)), 1))


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expand: int):
        super().__init__()
        hidden = cin * expand
        layers = [] if expand == 1 else [conv_bn(cin, hidden, 1, act=nn.ReLU6)]
        layers += [conv_bn(hidden, hidden, 3, stride, groups=hidden, act=nn.ReLU6),
                   nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout)]  # linear bottleneck
        self.conv = nn.Sequential(*layers)
        self.use_res_connect = stride == 1 and cin == cout

    def forward(self, x):
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class MobileNetV2(nn.Module):
    """``settings``: torchvision's (expansion t, channels c, repeats n, first stride s) rows, reduced."""

    def __init__(self, width: int = 4, settings=((1, 4, 1, 1), (4, 6, 2, 2), (4, 8, 2, 1)), last: int = 16,
                 classes: int = 10, in_ch: int = 1, stem_stride: int = 1):
        super().__init__()
        layers, c = [conv_bn(in_ch, width, 3, stem_stride, act=nn.ReLU6)], width
        for t, cout, n, s in settings:
            for i in range(n):
                layers.append(InvertedResidual(c, cout, s if i == 0 else 1, t))
                c = cout
        layers.append(conv_bn(c, last, 1, act=nn.ReLU6))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d((1, 1))
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(last, classes))

    def forward(self, x):
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))


# ---------------------------------------------------------------- SqueezeNet

class Fire(nn.Module):
    def __init__(self, cin: int, squeeze: int, e1: int, e3: int):
        super().__init__()
        self.squeeze, self.squeeze_activation = nn.Conv2d(cin, squeeze, 1), nn.ReLU()
        self.expand1x1, self.expand1x1_activation = nn.Conv2d(squeeze, e1, 1), nn.ReLU()
        self.expand3x3, self.expand3x3_activation = nn.Conv2d(squeeze, e3, 3, padding=1), nn.ReLU()

    def forward(self, x):
        x = self.squeeze_activation(self.squeeze(x))
        return torch.cat([self.expand1x1_activation(self.expand1x1(x)),
                          self.expand3x3_activation(self.expand3x3(x))], 1)


class SqueezeNet11(nn.Module):
    """SqueezeNet 1.1 with widths divided by ``div`` (torchvision: 64 / Fire(64, 16, 64, 64) ...); ``pools``
    < 3 stops after that many max pools' stages (for inputs too small for three)."""

    def __init__(self, div: int = 8, classes: int = 10, in_ch: int = 1, stem_stride: int = 2, pools: int = 3):
        super().__init__()
        d = lambda n: max(n // div, 1)  # noqa: E731
        stages = [[(64, 16, 64, 64), (128, 16, 64, 64)], [(128, 32, 128, 128), (256, 32, 128, 128)],
                  [(256, 48, 192, 192), (384, 48, 192, 192), (384, 64, 256, 256), (512, 64, 256, 256)]]
        layers = [nn.Conv2d(in_ch, d(64), 3, stem_stride), nn.ReLU()]
        for fires in stages[:pools]:
            layers.append(nn.MaxPool2d(3, 2, ceil_mode=True))
            layers += [Fire(d(cin), d(s), d(e1), d(e3)) for cin, s, e1, e3 in fires]
        self.features = nn.Sequential(*layers)
        c = 2 * d(stages[pools - 1][-1][2])
        self.classifier = nn.Sequential(nn.Dropout(0.5), nn.Conv2d(c, classes, 1), nn.ReLU(),
                                        nn.AdaptiveAvgPool2d((1, 1)))

    def forward(self, x):
        return torch.flatten(self.classifier(self.features(x)), 1)


# ---------------------------------------------------------------- DenseNets

class DenseLayer(nn.Module):
    """BN-ReLU-conv1x1 (bottleneck, ``bn_size * growth``) - BN-ReLU-conv3x3 (``growth``), concatenated."""

    def __init__(self, cin: int, growth: int, bn_size: int):
        super().__init__()
        self.norm1, self.relu1 = nn.BatchNorm2d(cin), nn.ReLU()
        self.conv1 = nn.Conv2d(cin, bn_size * growth, 1, bias=False)
        self.norm2, self.relu2 = nn.BatchNorm2d(bn_size * growth), nn.ReLU()
        self.conv2 = nn.Conv2d(bn_size * growth, growth, 3, padding=1, bias=False)

    def forward(self, x):
        new = self.conv2(self.relu2(self.norm2(self.conv1(self.relu1(self.norm1(x))))))
        return torch.cat([x, new], 1)


class Transition(nn.Sequential):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.norm, self.relu = nn.BatchNorm2d(cin), nn.ReLU()
        self.conv = nn.Conv2d(cin, cout, 1, bias=False)
        self.pool = nn.AvgPool2d(2, 2)


class DenseNet(nn.Module):
    """``stem``: "imagenet" (conv 7x7/2 + BN + ReLU + MaxPool(3, 2, 1), DenseNet-121) or "cifar" (conv 3x3,
    DenseNet-BC); transitions compress the channels by ``compression``."""

    def __init__(self, growth: int = 4, blocks=(2, 2), init: int = 8, bn_size: int = 2, compression: float = 0.5,
                 stem: str = "imagenet", classes: int = 10, in_ch: int = 1):
        super().__init__()
        if stem == "imagenet":
            layers = [nn.Conv2d(in_ch, init, 7, 2, 3, bias=False), nn.BatchNorm2d(init), nn.ReLU(),
                      nn.MaxPool2d(3, 2, 1)]
        else:
            layers = [nn.Conv2d(in_ch, init, 3, padding=1, bias=False)]
        c = init
        for i, n in enumerate(blocks):
            for _ in range(n):
                layers.append(DenseLayer(c, growth, bn_size))
                c += growth
            if i != len(blocks) - 1:
                layers.append(Transition(c, int(c * compression)))
                c = int(c * compression)
        layers += [nn.BatchNorm2d(c), nn.ReLU()]
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d((1, 1))
        self.classifier = nn.Linear(c, classes)

    def forward(self, x):
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))


# ---------------------------------------------------------------- GoogLeNet

class Inception(nn.Module):
    def __init__(self, cin: int, c1: int, c3r: int, c3: int, c5r: int, c5: int, pool_proj: int):
        super().__init__()
        self.branch1 = conv_bn(cin, c1, 1)
        self.branch2 = nn.Sequential(conv_bn(cin, c3r, 1), conv_bn(c3r, c3, 3))
        self.branch3 = nn.Sequential(conv_bn(cin, c5r, 1), conv_bn(c5r, c5, 3))  # 3x3, as torchvision has it
        self.branch4 = nn.Sequential(nn.MaxPool2d(3, 1, 1, ceil_mode=True), conv_bn(cin, pool_proj, 1))

    def forward(self, x):
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


class GoogLeNet(nn.Module):
    """aux_logits=False, transform_input=False; widths divided by ``div``, inception 3a, 3b, 4a only."""

    def __init__(self, div: int = 16, classes: int = 10, in_ch: int = 1):
        super().__init__()
        d = lambda n: max(n // div, 1)  # noqa: E731
        self.conv1 = conv_bn(in_ch, d(64), 7, 2, 3)
        self.maxpool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2 = conv_bn(d(64), d(64), 1)
        self.conv3 = conv_bn(d(64), d(192), 3)
        self.maxpool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.inception3a = Inception(d(192), d(64), d(96), d(128), d(16), d(32), d(32))
        c3a = d(64) + d(128) + d(32) + d(32)
        self.inception3b = Inception(c3a, d(128), d(128), d(192), d(32), d(96), d(64))
        c3b = d(128) + d(192) + d(96) + d(64)
        self.maxpool3 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.inception4a = Inception(c3b, d(192), d(96), d(208), d(16), d(48), d(64))
        c4a = d(192) + d(208) + d(48) + d(64)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(0.2)
        self.fc = nn.Linear(c4a, classes)

    def forward(self, x):
        x = self.maxpool1(self.conv1(x))
        x = self.maxpool2(self.conv3(self.conv2(x)))
        x = self.maxpool3(self.inception3b(self.inception3a(x)))
        x = self.inception4a(x)
        return self.fc(self.dropout(torch.flatten(self.avgpool(x), 1)))


# ---------------------------------------------------------------- the zoo

#: name -> (constructor, input shape (C, H, W)); "small" models run in Lava / RTL on 8x8 digits, the others
#: on 28x28 (Fashion-MNIST's size)
MODELS = {
    "resnet18": (lambda: ResNet18(width=4), (1, 28, 28)),
    "resnet18_small": (lambda: ResNet18(width=2), (1, 8, 8)),  # the stem's max pool feeds layer1's skips
    "resnet20": (lambda: ResNet20(width=4), (1, 8, 8)),
    "mobilenet_v1": (lambda: MobileNetV1(width=4), (1, 8, 8)),
    "mobilenet_v2": (lambda: MobileNetV2(width=4), (1, 8, 8)),
    "squeezenet1_1": (lambda: SqueezeNet11(div=8), (1, 28, 28)),
    "squeezenet1_1_small": (lambda: SqueezeNet11(div=16, stem_stride=1, pools=2), (1, 8, 8)),
    "densenet121": (lambda: DenseNet(growth=4, blocks=(2, 3, 2), init=8, bn_size=2), (1, 28, 28)),
    "densenet_bc": (lambda: DenseNet(growth=3, blocks=(2, 2), init=6, bn_size=2, stem="cifar"), (1, 8, 8)),
    "googlenet": (lambda: GoogLeNet(div=8), (1, 28, 28)),
}


#: IR ops each model's integer network must contain (what makes the architecture what it is)
EXPECTED_OPS = {
    "resnet18": {"MaxPool2d", "Add"}, "resnet18_small": {"MaxPool2d", "Add"}, "resnet20": {"Add"},
    "mobilenet_v1": {"Conv2d"}, "mobilenet_v2": {"Add"}, "squeezenet1_1": {"Concat", "MaxPool2d"},
    "squeezenet1_1_small": {"Concat", "MaxPool2d"}, "densenet121": {"Concat", "MaxPool2d", "AvgPool2d"},
    "densenet_bc": {"Concat", "AvgPool2d"}, "googlenet": {"Concat", "MaxPool2d"},
}


def randomise_batchnorm(model: nn.Module, gen: torch.Generator) -> None:
    """Running statistics and affine parameters away from (0, 1): every BatchNorm changes its input. Scales
    stay positive (a BatchNorm in front of a max pool with a negative scale does not commute with it)."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d | nn.BatchNorm1d):
                n = m.num_features
                m.running_mean.copy_(torch.rand(n, generator=gen) * 0.4 - 0.2)
                m.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
                m.weight.copy_(torch.rand(n, generator=gen) + 0.5)
                m.bias.copy_(torch.rand(n, generator=gen) * 0.4 - 0.1)


def build(name: str, seed: int | None = None) -> tuple[nn.Module, tuple[int, int, int]]:
    """(model in eval mode with seeded random weights and randomised BatchNorms, input shape). Weights are
    He-initialised (as torchvision initialises these models) with small biases, so the logits of the random
    network still depend on the input (PyTorch's default init lets the deep ones collapse to a constant)."""
    make, shape = MODELS[name]
    seed = 0 if seed is None else seed
    torch.manual_seed(seed)
    model = make()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d | nn.Linear):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                if m.bias is not None:
                    m.bias.uniform_(-0.05, 0.1)
    randomise_batchnorm(model, torch.Generator().manual_seed(seed + 1))
    return model.eval(), shape
