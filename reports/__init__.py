"""Reports: tables and figures comparing searched backbones with the ResNet baselines."""
