// Codec module: work in progress
