"""The toolkit's shared kit: one error base class, one CLI entry wrapper, argparse generated from dataclasses,
presets as partial overrides, one progress helper and one atomic writer. Torch-free and upstream of every
other package (kit -> search_spaces -> trainers / facedata -> nas -> reports)."""
