"""Learned scorers: CNN readability, autoencoder embeddings, per-user k-NN, and the final ranking."""
