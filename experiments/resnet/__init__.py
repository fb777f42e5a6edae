"""ResNet experiments: training configs run by ``nclandscape train experiments/resnet/<fig>.py``; ``runner.py`` summarises their runs."""
