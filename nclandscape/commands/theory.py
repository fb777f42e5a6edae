"""``nclandscape theory``: the closed-form global minimum of one problem."""
from __future__ import annotations

from nclandscape.commands._common import add_problem_args, num_samples, print_json, problem_from_args

NAME = "theory"
HELP = "closed-form global minimum (f*, b*, regime) of vanilla MSE or CE"


def add_arguments(p):
    add_problem_args(p)


def validate(args):
    """Every check of ``theory``, before any work: the problem and the memory of its closed form."""
    from nclandscape.validate import check_memory

    prob = problem_from_args(args)
    if prob.loss == "mse":  # dense K x K SVD and class-mean Gram, the (d, N) minimiser
        nbytes = 8 * (6 * prob.K**2 + prob.d * num_samples(prob) + prob.K * prob.d)
        check_memory(f"the closed form of K={prob.K}, n={prob.n}, d={prob.d}", nbytes, "lower --K, --n or --d",
                     host=True)
    return prob


def main(args) -> int:
    from nclandscape.theory import predicted_class_mean_gram, theory_for

    prob = validate(args)
    out = {"K": prob.K, "n": prob.n, "d": prob.d, "loss": prob.loss, "bias": prob.bias, **theory_for(prob)}
    if prob.loss == "mse":
        G = predicted_class_mean_gram(prob.K, prob.n, prob.d, prob.lambda_W, prob.lambda_H, prob.lambda_b, bias=prob.bias)
        out["class_mean_gram"] = G.tolist()
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
