"""The studio: a Gradio Blocks app whose tabs call the model layer in `models/`."""

__version__ = "0.1.0"
