"""The data stage: image sources, preprocessing, masks, TFRecord shards and the loader."""
