print("vaecodec")
