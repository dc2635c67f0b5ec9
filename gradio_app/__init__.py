"""Gradio app for mofrr (a Hugging Face Space); thin over mofrr_core."""
