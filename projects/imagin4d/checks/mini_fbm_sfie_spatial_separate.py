# Check of the routing against the tokens (results page, "What to do next"): SFIE spatial tokens only, as
# mini_fbm_sfie_spatial.py, but with the full model's source-separated routing (each AdaLN stream has its own
# modulation projection). Against mini_fbm_sfie_spatial.py it isolates the routing; against mini_fbm_sfie.py the
# frame-aware tokens. Same budget and commands as the benchmark (the results page lists them).
_base_ = ['../mini_fbm_sfie_spatial.py']

model = dict(denoiser=dict(stream_fusion='separate'))
