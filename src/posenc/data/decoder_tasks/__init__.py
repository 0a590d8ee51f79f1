"""The tasks of Kazemnejad et al. 2023 ("The Impact of Positional Encoding on Length
Generalization in Transformers"; McGill-NLP/length-generalization), in symbolic form:
digits and symbols are tokens, the reference's natural-language templates ("Compute",
"The answer is") are left out. Each is a token task (posenc.data.tasks.Task: the same
contract, levels and layouts) whose YAML chooses `layout: prompt` and the paper's split
(train ≤ 20 for copy, ≤ 8 for the arithmetic tasks; `+experiment=decoder` scores to twice).

Members: context-sensitive `copy` (variants cmc, rsc, rdc), `addition`, `sort`; regular
`summation` (mod 10), `polynomial` (evaluation mod 10), `lego` (chains of assignments);
`scan` (SCAN's length split, its
commands generated from its grammar). The paper's reverse and parity are
`reverse_string` and `parity_check` with dataset.layout=prompt.
"""
