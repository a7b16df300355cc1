"""The Discord bot: /diagram, ranked posts, reaction ratings, admin commands, nightly retraining.

client (wiring and lifecycle) · commands (/diagram) · queue (FIFO and workers) · drawing (one job:
draw, store, post) · views (buttons) · ratings (reactions) · admin (admin commands) · retrain and
scheduler (the retrain path) · settings · i18n (English and Korean, from locales/) · cli
(`diagrambot bot`). Setup and daily use: README.md.
"""
