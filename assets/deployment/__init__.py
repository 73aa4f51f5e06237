"""The partitioned chain: hardware_report -> vllm_image -> model_weights -> vllm_service ->
smoke_test -> answer_accuracy -> benchmark_results. Each partition is one deployment."""
