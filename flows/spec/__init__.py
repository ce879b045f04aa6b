"""What the specs say: the model of study.yaml, the raw contracts and the dataset specs, their YAML reader, the
checks of each on its own, and the pandera schemas generated from them. The mapping checks and `load_specs`,
which runs every check, are in `flows.mapping.load`: they need the mapping vocabulary."""
