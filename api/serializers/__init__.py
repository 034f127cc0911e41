"""Response and request shapes the API's endpoints share: predictions, reviews, cases."""
