"""Classical baseline: TF-IDF + logistic regression on the same BBC News split.

    python -m benchmarks.tfidf_baseline

Shows what the transformer buys over a strong linear model (which sees the whole article,
not only the first max_seq_length tokens).
"""

from __future__ import annotations

import time

from benchmarks import _harness


def main() -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.pipeline import make_pipeline

    train, test = _harness.bbc_news_split(None)
    model = make_pipeline(
        TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=2),
        LogisticRegression(C=10.0, max_iter=2000),
    )
    started = time.perf_counter()
    model.fit([r.text for r in train], [r.label for r in train])
    seconds = time.perf_counter() - started
    predicted = model.predict([r.text for r in test])
    truth = [r.label for r in test]
    result = {
        "train_seconds": seconds,
        "test_accuracy": accuracy_score(truth, predicted),
        "test_macro_f1": f1_score(truth, predicted, average="macro"),
    }
    print(
        _harness.markdown_table(
            ["model", "train s", "test acc", "test macro-F1"],
            [
                [
                    "tfidf + logistic regression",
                    seconds,
                    result["test_accuracy"],
                    result["test_macro_f1"],
                ]
            ],
        )
    )
    _harness.write_results("tfidf_baseline", result)


if __name__ == "__main__":
    main()
