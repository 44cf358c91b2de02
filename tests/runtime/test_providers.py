from __future__ import annotations

import os

import pytest
from runtime_helpers import CPU, CUDA, FakeOrt

from tensorbridge.errors import RuntimeSessionError, UsageError
from tensorbridge.runtime import providers
from tensorbridge.runtime.providers import (
    CudaProbe,
    check_single_distribution,
    probe_cuda,
    reset_probe_cache,
    select_providers,
)

ONE = ["onnxruntime-gpu"]
CUBLAS_ERR = (
    "[E:onnxruntime:Default, provider_bridge_ort.cc:2458 operator()] Failed to load library "
    "/x/libonnxruntime_providers_cuda.so with error: libcublasLt.so.12: cannot open shared "
    "object file: No such file or directory\n"
)


def test_auto_on_cpu_only_build_is_cpu():
    ort = FakeOrt(available=[CPU])
    assert select_providers("auto", ort_module=ort, distributions=ONE) == [CPU]
    assert ort.sessions == 0  # nothing to probe


def test_cuda_on_cpu_only_build_says_install_onnxruntime_gpu():
    with pytest.raises(RuntimeSessionError, match="no CUDAExecutionProvider") as info:
        select_providers("cuda", ort_module=FakeOrt(available=[CPU]), distributions=ONE)
    assert "install onnxruntime-gpu" in str(info.value)
    assert info.value.exit_code == 5


def test_auto_cuda_listed_but_not_loading_is_cpu_and_silent(capfd):
    ort = FakeOrt(available=[CUDA, CPU], stderr_text=CUBLAS_ERR)
    assert select_providers("auto", ort_module=ort, distributions=ONE) == [CPU]
    assert ort.sessions == 1
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")


def test_cuda_listed_but_not_loading_names_the_missing_library(capfd):
    ort = FakeOrt(available=[CUDA, CPU], stderr_text=CUBLAS_ERR + CUBLAS_ERR)
    with pytest.raises(RuntimeSessionError) as info:
        select_providers("cuda", ort_module=ort, distributions=ONE)
    msg = str(info.value)
    assert "failed to load" in msg and "libcublasLt.so.12" in msg
    assert "pip install tensorbridge[cuda]" in msg
    assert capfd.readouterr().err == ""


def test_cuda_failure_without_library_name_quotes_the_error_line():
    text = "noise\n[E:onnxruntime] no CUDA-capable device\n"
    ort = FakeOrt(available=[CUDA, CPU], stderr_text=text)
    with pytest.raises(RuntimeSessionError, match="no CUDA-capable device"):
        select_providers("cuda", ort_module=ort, distributions=ONE)


def test_probe_records_session_creation_error():
    error = RuntimeError("libcudnn.so.9: cannot open shared object file")
    ort = FakeOrt(available=[CUDA, CPU], raises=error)
    probe = probe_cuda(ort)
    assert probe == CudaProbe(listed=True, loads=False, detail=probe.detail)
    assert probe.missing_libraries == ["libcudnn.so.9"]
    with pytest.raises(RuntimeSessionError, match=r"libcudnn\.so\.9"):
        select_providers("cuda", ort_module=ort, distributions=ONE)


def test_auto_and_cuda_take_cuda_where_it_loads():
    ort = FakeOrt(available=[CUDA, CPU], loadable=[CUDA, CPU])
    assert select_providers("auto", ort_module=ort, distributions=ONE) == [CUDA, CPU]
    assert select_providers("cuda", ort_module=ort, distributions=ONE) == [CUDA, CPU]


def test_cpu_never_probes():
    ort = FakeOrt(available=[CUDA, CPU], raises=AssertionError("must not build a session"))
    assert select_providers("cpu", ort_module=ort, distributions=ONE) == [CPU]
    assert ort.sessions == 0


def test_unknown_device_is_a_usage_error():
    with pytest.raises(UsageError, match="unknown device 'gpu'"):
        select_providers("gpu", ort_module=FakeOrt([CPU]), distributions=ONE)


def test_both_distributions_installed_says_which_pip_commands_fix_it():
    with pytest.raises(RuntimeSessionError) as info:
        check_single_distribution(["onnxruntime", "onnxruntime-gpu"])
    msg = str(info.value)
    assert "onnxruntime, onnxruntime-gpu" in msg
    assert "pip uninstall -y onnxruntime onnxruntime-gpu" in msg
    assert "pip install onnxruntime-gpu" in msg
    with pytest.raises(RuntimeSessionError):
        both = ["onnxruntime", "onnxruntime-gpu"]
        select_providers("cpu", ort_module=FakeOrt([CPU]), distributions=both)


def test_single_distribution_is_fine():
    check_single_distribution(["onnxruntime-gpu"])
    check_single_distribution(["onnxruntime"])
    check_single_distribution([])


def test_this_environment_has_one_distribution():
    assert len(providers.installed_ort_distributions()) == 1


def test_probe_restores_fd2(capfd):
    probe_cuda(FakeOrt(available=[CUDA, CPU], stderr_text="hidden\n"))
    os.write(2, b"visible\n")
    assert capfd.readouterr().err == "visible\n"


def test_real_probe_runs_once_per_process(monkeypatch):
    calls = []
    monkeypatch.setattr(providers, "probe_cuda", lambda: calls.append(1) or CudaProbe(True, False))
    reset_probe_cache()
    try:
        select_providers("auto")
        select_providers("auto")
        assert calls == [1]
    finally:
        reset_probe_cache()


def _real_cuda_loads() -> bool:
    reset_probe_cache()
    return providers._cached_probe().loads


def test_real_auto_is_silent_and_falls_back_to_cpu(capfd):
    reset_probe_cache()
    chosen = select_providers("auto")
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")
    assert chosen == ([CUDA, CPU] if providers._cached_probe().loads else [CPU])


def test_real_cuda_fails_clearly_without_a_gpu(capfd):
    if _real_cuda_loads():
        pytest.skip("CUDA really works here")
    with pytest.raises(RuntimeSessionError, match="--device cuda") as info:
        select_providers("cuda")
    assert capfd.readouterr().err == ""
    probe = providers._cached_probe()
    if probe.missing_libraries:  # onnxruntime-gpu without CUDA libraries: the library is named
        assert f"missing {probe.missing_libraries[0]}" in str(info.value)
        assert "pip install tensorbridge[cuda]" in str(info.value)
