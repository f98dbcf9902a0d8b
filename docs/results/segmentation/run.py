"""Real comparison run (issue 13), same recipe as keras_adastride.segmentation.training."""
import json, os, sys, time
import numpy as np, keras
from keras_adastride.segmentation.training import split_for_seed, train_segmentation_run, VARIANTS
from keras_adastride.experiments.train import effective_strides
from keras_adastride.flops import count_flops

OUT = sys.argv[1]; SEEDS = int(sys.argv[2]); EPOCHS = int(sys.argv[3]); TRAIN = int(sys.argv[4])
os.makedirs(OUT, exist_ok=True)

class CPUTimer(keras.callbacks.Callback):
    def __init__(self): super().__init__(); self.cpu = []
    def on_epoch_begin(self, e, logs=None): self._c = time.process_time()
    def on_epoch_end(self, e, logs=None): self.cpu.append(time.process_time() - self._c)

for seed in range(SEEDS):
    data = split_for_seed(seed, TRAIN, 500, 1000)
    for variant in VARIANTS:
        path = f"{OUT}/{variant}_seed{seed}.json"
        if os.path.exists(path):
            continue
        print(f"== {variant} seed {seed}", flush=True)
        cpu = CPUTimer()
        import keras_adastride.segmentation.training as T
        orig = T.fit_segmenter
        def fit(model, data, **kw):
            kw["callbacks"] = list(kw.get("callbacks", ())) + [cpu]
            return orig(model, data, **kw)
        T.fit_segmenter = fit
        model, scores, history, timer = train_segmentation_run(variant, seed, data, epochs=EPOCHS, batch_size=32, verbose=2)
        T.fit_segmenter = orig
        record = dict(variant=variant, seed=seed, metrics=scores,
                      history={k: [float(x) for x in v] for k, v in history.history.items()},
                      epoch_seconds=timer.seconds, epoch_cpu_seconds=cpu.cpu,
                      params=int(model.count_params()), flops=int(count_flops(model)),
                      effective_strides=effective_strides(model, data["x_test"][:500]))
        with open(path + ".tmp", "w") as f: json.dump(record, f, indent=1)
        os.replace(path + ".tmp", path)
        print(variant, seed, {k: round(v, 4) for k, v in scores.items() if "/" not in k}, flush=True)
        if seed == 0:
            model.save(f"{OUT}/{variant}_seed0.keras")
        keras.backend.clear_session()
