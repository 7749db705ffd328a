// VAE module: work in progress
