"""Network definitions, one module per family, each with its config dataclass.

`ARCHITECTURES` maps the architecture name stored in a checkpoint's `model.json` to
(config class, network class), so a checkpoint is rebuilt from data.
"""

from models.nets.cgan import ClusterGenerator, ClusterGeneratorConfig, ConditionalGenerator, ConditionalGeneratorConfig
from models.nets.classifier import Classifier, ClassifierConfig
from models.nets.dcgan import DCGANConfig, DCGANDiscriminator, DCGANGenerator
from models.nets.gan import Discriminator, Generator, GeneratorConfig
from models.nets.inpaint import InpaintConfig, InpaintNet
from models.nets.texgan import TexDCGANConfig, TexDCGANGenerator, TexGANConfig, TexGenerator
from models.nets.texture import TextureConfig, TextureEnsemble, TextureEnsembleConfig, TextureNet
from models.nets.texvae import TexVAE, TexVAEConfig
from models.nets.vae import VAE, VAEConfig

ARCHITECTURES = {
    "studio-gan-generator": (GeneratorConfig, Generator),
    "studio-cgan-generator": (ConditionalGeneratorConfig, ConditionalGenerator),
    "studio-cluster-gan-generator": (ClusterGeneratorConfig, ClusterGenerator),
    "dcgan-generator": (DCGANConfig, DCGANGenerator),
    "fmnist-classifier": (ClassifierConfig, Classifier),
    "studio-vae": (VAEConfig, VAE),
    "studio-inpaint": (InpaintConfig, InpaintNet),
    "studio-texture": (TextureConfig, TextureNet),
    "studio-texture-fisher-ensemble": (TextureEnsembleConfig, TextureEnsemble),
    "studio-texgan-generator": (TexGANConfig, TexGenerator),
    "texgan-dcgan-generator": (TexDCGANConfig, TexDCGANGenerator),
    "studio-texvae": (TexVAEConfig, TexVAE),
}

__all__ = [
    "ARCHITECTURES",
    "Classifier",
    "ClassifierConfig",
    "ClusterGenerator",
    "ClusterGeneratorConfig",
    "ConditionalGenerator",
    "ConditionalGeneratorConfig",
    "DCGANConfig",
    "DCGANDiscriminator",
    "DCGANGenerator",
    "Discriminator",
    "Generator",
    "GeneratorConfig",
    "InpaintConfig",
    "InpaintNet",
    "TexDCGANConfig",
    "TexDCGANGenerator",
    "TexGANConfig",
    "TexGenerator",
    "TexVAE",
    "TexVAEConfig",
    "TextureConfig",
    "TextureNet",
    "VAE",
    "VAEConfig",
]
