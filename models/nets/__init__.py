"""Network definitions, one module per family, each with its config dataclass.

`ARCHITECTURES` maps the architecture name stored in a checkpoint's `model.json` to
(config class, network class), so a checkpoint is rebuilt from data.
"""

from models.nets.cgan import ConditionalGenerator, ConditionalGeneratorConfig
from models.nets.classifier import Classifier, ClassifierConfig
from models.nets.dcgan import DCGANConfig, DCGANDiscriminator, DCGANGenerator
from models.nets.gan import Discriminator, Generator, GeneratorConfig

ARCHITECTURES = {
    "studio-gan-generator": (GeneratorConfig, Generator),
    "studio-cgan-generator": (ConditionalGeneratorConfig, ConditionalGenerator),
    "dcgan-generator": (DCGANConfig, DCGANGenerator),
    "fmnist-classifier": (ClassifierConfig, Classifier),
}

__all__ = [
    "ARCHITECTURES",
    "Classifier",
    "ClassifierConfig",
    "ConditionalGenerator",
    "ConditionalGeneratorConfig",
    "DCGANConfig",
    "DCGANDiscriminator",
    "DCGANGenerator",
    "Discriminator",
    "Generator",
    "GeneratorConfig",
]
