"""One router per area; ``hfit_api.main`` collects them."""
