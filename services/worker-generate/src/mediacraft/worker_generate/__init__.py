"""Generation worker: image_generation and video_generation jobs through a provider port."""
