// ImageIO module: work in progress
