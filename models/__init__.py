"""The studio's model layer: networks, registry, loading, inference, training and evaluation.

Never imports gradio.
"""
