"""One module per verb; each defines `register(app)`."""
