/**
 * torch.optim.lr_scheduler.ReduceLROnPlateau in mode "max" with a relative threshold, as the reference uses it on
 * the validation macro F1: the learning rate is multiplied by `factor` once the metric has not improved for more
 * than `patience` epochs, then left alone for `cooldown` epochs, never going below `minLr`.
 */
export interface PlateauOptions {
  readonly factor: number
  readonly patience: number
  readonly cooldown: number
  readonly minLr: number
  readonly threshold?: number
  readonly eps?: number
}

export class ReduceLROnPlateau {
  private best = -Infinity
  private bad = 0
  private cooldownLeft = 0
  readonly threshold: number
  readonly eps: number

  constructor(
    public lr: number,
    readonly options: PlateauOptions,
  ) {
    this.threshold = options.threshold ?? 1e-4
    this.eps = options.eps ?? 1e-8
  }

  /** Feeds one epoch's metric; returns the learning rate for the next epoch. */
  step(metric: number): number {
    if (metric > this.best * (1 + this.threshold)) {
      this.best = metric
      this.bad = 0
    } else {
      this.bad++
    }
    if (this.cooldownLeft > 0) {
      this.cooldownLeft--
      this.bad = 0
    }
    if (this.bad > this.options.patience) {
      const next = Math.max(this.lr * this.options.factor, this.options.minLr)
      if (this.lr - next > this.eps) this.lr = next
      this.cooldownLeft = this.options.cooldown
      this.bad = 0
    }
    return this.lr
  }
}
