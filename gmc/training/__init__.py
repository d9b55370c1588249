"""Training: one engine (train_one_epoch / evaluate / fit) with checkpoint-resume and seeding."""
