void greet(const char *who);

int main(void) {
  greet("cmake-shared");
  return 0;
}
