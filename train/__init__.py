"""digits.train: train MNIST digit classifiers in PyTorch (workstation / GPU side)."""
