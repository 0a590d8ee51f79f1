"""What each kind of run declares to the rest of posenc: its metrics (with their direction
and meaning), its length families, its history columns, its headline, and how the tables
and figures show it. Plain data, no torch: posenc.metrics builds its registry from these,
and analysis, figures, objectives, the report and the export read the registry, never a
kind's name. Declared in the order the tables prefer them when kinds are mixed."""

from __future__ import annotations

from posenc.metrics import HIGHER, LOWER, KindSpec, Metric, declare

ACCURACIES = (
    Metric("test_accuracy", HIGHER, "accuracy on test sequences at training lengths", True),
    Metric("final_val_accuracy", HIGHER, "validation accuracy after the last round", True),
    Metric("final_train_accuracy", HIGHER, "training accuracy of the last round", True),
    Metric("best_val_accuracy", HIGHER, "highest validation accuracy of any round", True),
)
STEP_HISTORY = ("step", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "seconds")

TOKENS = declare(
    KindSpec(
        name="tokens",
        label="a token task",
        plural="token tasks",
        metrics=(
            Metric(
                "score",
                HIGHER,
                "mean accuracy (exact match in the prompt layout) at the lengths past training",
                True,
            ),
            *ACCURACIES,
            Metric(
                "test_exact_match",
                HIGHER,
                "share of test sequences right at every scored position",
                True,
            ),
        ),
        families=(
            Metric("accuracy", HIGHER, "accuracy at one evaluation length", True),
            Metric("exact_match", HIGHER, "share of sequences wholly right at one length", True),
        ),
        history=STEP_HISTORY,
        headline="score",  # with eval.max_length: the range past training is scored
        scores_range=True,
        printed=("test_accuracy", "final_val_loss"),
        printed_family="accuracy",
        printed_family_when_few=True,
        curve=("val_loss", "cross-entropy"),
        length_figure=("accuracy", "accuracy"),
        markers=("test_accuracy",),
    )
)

TEXT = declare(
    KindSpec(
        name="text",
        label="text",
        plural="text",
        metrics=(
            *ACCURACIES,
            Metric("test_bpc", LOWER, "bits per character on the held-out test text"),
            Metric("final_val_bpc", LOWER, "validation bits per character after the last round"),
            Metric("test_perplexity", LOWER, "perplexity per character on the test text"),
        ),
        families=(
            Metric("bpc", LOWER, "bits per character at one evaluation length"),
            Metric("perplexity", LOWER, "perplexity at one evaluation length"),
        ),
        history=(  # the losses in nats and in bits per character
            "step",
            "train_loss",
            "train_bpc",
            "train_accuracy",
            "val_loss",
            "val_bpc",
            "val_accuracy",
            "seconds",
        ),
        printed=("test_bpc",),
        printed_family="bpc",
        curve=("val_bpc", "bits per character"),
        length_figure=("bpc", "bits per character"),
        markers=("test_bpc", "test_accuracy"),
    )
)

REGRESSION = declare(
    KindSpec(
        name="regression",
        label="a regression dataset",
        plural="regression datasets",
        history=("epoch", "train_loss", "val_loss", "seconds"),
        printed=("final_val_loss", "final_train_loss", "test_loss"),
        curve=("val_loss", "MSE"),
        length_figure=("loss", "test loss"),
        default=True,  # a dataset that declares no kind, and folders older than `kind`
    )
)
