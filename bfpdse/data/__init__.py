"""Dataset loaders: bundled Fashion-MNIST, MNIST-style IDX pairs, CIFAR-10 batches, npz."""
