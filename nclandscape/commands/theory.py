"""``nclandscape theory``: the closed-form global minimum of one problem."""
from __future__ import annotations

from nclandscape.commands._common import add_problem_args, num_samples, print_json, problem_from_args

NAME = "theory"
HELP = "closed-form global minimum (f*, b*, regime) of the losses that have one (vanilla MSE, CE)"


def add_arguments(p):
    add_problem_args(p)


def validate(args):
    """Every check of ``theory``, before any work: the problem and the memory of its closed form."""
    from nclandscape.validate import check_memory

    prob = problem_from_args(args)
    if _class_mean_gram(prob) is not None:  # dense K x K SVD and class-mean Gram, the (d, N) minimiser
        nbytes = 8 * (6 * prob.K**2 + prob.d * num_samples(prob) + prob.K * prob.d)
        check_memory(f"the closed form of K={prob.K}, n={prob.n}, d={prob.d}", nbytes, "lower --K, --n or --d",
                     host=True)
    return prob


def _class_mean_gram(prob):
    """The closed form's predicted class-mean Gram function of the problem's loss, or None."""
    from nclandscape.objectives import loss_of

    cf = loss_of(prob.loss).closed_form
    return None if cf is None else cf.class_mean_gram


def main(args) -> int:
    from nclandscape.theory import theory_for

    prob = validate(args)
    out = {"K": prob.K, "n": prob.n, "d": prob.d, "loss": prob.loss, "bias": prob.bias, **theory_for(prob)}
    gram = _class_mean_gram(prob)
    if gram is not None:
        out["class_mean_gram"] = gram(prob).tolist()
    if args.json:
        print_json(out)
    else:
        print(f"{prob.loss} K={prob.K} n={prob.n} d={prob.d} bias={prob.bias}")
        print(f"  f* = {out['f_star']:.10g}   b* = {out['b_star']:.6g} * 1_K   regime: {out['regime']}")
        if "phase_threshold" in out:
            print(f"  lambda_W*lambda_H = {out['lambda_W_lambda_H']:.3g}  (zero solution at >= 1/(K N) = {out['phase_threshold']:.3g})")
        if "t_star" in out:
            print(f"  optimal squared classifier row norm t* = {out['t_star']:.6g}")
    return 0
