"""Loss and accuracy per round, drawn with plotext."""

from __future__ import annotations

from collections.abc import Sequence

from textual_plotext import PlotextPlot

from parity_p2p.node.services import RoundInfo


class RoundChart(PlotextPlot):
    def show_rounds(self, rounds: Sequence[RoundInfo]) -> None:
        done = [r for r in rounds if r.finalized_at > 0]
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title("loss and accuracy per round")
        plt.xlabel("round")
        if done:
            xs = [float(r.round) for r in done]
            plt.plot(xs, [r.loss for r in done], label="loss", marker="braille")
            plt.plot(xs, [r.accuracy for r in done], label="accuracy", marker="braille")
            plt.xticks(xs)
        self.refresh()
